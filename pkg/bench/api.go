package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/fleetcron/fleetcron/pkg/jobs"
)

const benchToken = "bench-admin-token-0123456789abcdef"

// devProcess is a `fleetcron dev` process on a populated data directory.
type devProcess struct {
	cmd   *exec.Cmd
	url   string
	start time.Duration // exec to the API accepting connections
	log   bytes.Buffer
}

// startDev runs `fleetcron dev` on dir and waits until its API answers.
func (e *env) startDev(ctx context.Context, dir string) (*devProcess, error) {
	bin, err := e.build(ctx, "./cmd/fleetcron")
	if err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := l.Addr().String()
	l.Close()
	p := &devProcess{url: "http://" + addr}
	p.cmd = exec.Command(bin, "dev", "--addr", addr, "--data", dir)
	p.cmd.Env = append(os.Environ(), "FLEETCRON_TOKEN="+benchToken)
	p.cmd.Stdout, p.cmd.Stderr = &p.log, &p.log
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	t0 := time.Now()
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start fleetcron dev: %w", err)
	}
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			p.start = time.Since(t0)
			return p, nil
		}
		if time.Since(t0) > 2*time.Minute || ctx.Err() != nil {
			p.stop()
			return nil, fmt.Errorf("fleetcron dev did not listen within 2 minutes:\n%s", tail(p.log.Bytes(), 2000))
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func (p *devProcess) stop() { stopProcess(p.cmd) }

// settledRSS waits for the process's resident set to stop moving (the
// runtime returning start-up garbage) and returns it.
func settledRSS(pid int) (int64, error) {
	var last int64
	for i := range 20 {
		r, err := rss(pid)
		if err != nil {
			return 0, err
		}
		if i > 2 && r >= last-last/200 && r <= last+last/200 {
			return r, nil
		}
		last = r
		time.Sleep(500 * time.Millisecond)
	}
	return last, nil
}

// benchZones are the zones stored jobs are spread over.
var benchZones = []string{"UTC", "Europe/Berlin", "America/New_York", "Asia/Tokyo", "Australia/Sydney"}

// dailyJobs are jobs at 1,440 different times of day in five zones, on
// the first of a month six months away: they do not fire while measured.
func dailyJobs(i int) jobs.Input {
	month := (int(time.Now().Month())+5)%12 + 1
	return jobs.Input{Executable: ptr("/usr/local/bin/report --day"), Schedule: ptr(fmt.Sprintf("%d %d 1 %d *", i%60, (i/60)%24, month)),
		Name: ptr("nightly-report-" + strconv.Itoa(i)), TimeZone: ptr(benchZones[i%len(benchZones)])}
}

const createBody = `{"name":"nightly-report","executable":"/usr/local/bin/report --day","schedule":"17 3 * * *","timezone":"Europe/Berlin"}`

// creates sends m job creates from c concurrent clients and returns each
// one's latency and the wall time.
func creates(ctx context.Context, url string, m, c int) ([]time.Duration, time.Duration, error) {
	tr := &http.Transport{MaxIdleConnsPerHost: c, MaxConnsPerHost: c}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	lat := make([]time.Duration, m)
	var next sync.Mutex
	i := 0
	var failed error
	var wg sync.WaitGroup
	start := time.Now()
	for range c {
		wg.Go(func() {
			for {
				next.Lock()
				k := i
				i++
				next.Unlock()
				if k >= m || ctx.Err() != nil {
					return
				}
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url+"/jobs", bytes.NewReader([]byte(createBody)))
				req.Header.Set("Authorization", "Bearer "+benchToken)
				req.Header.Set("Content-Type", "application/json")
				t0 := time.Now()
				resp, err := client.Do(req)
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusCreated {
						err = fmt.Errorf("POST /jobs: %s", resp.Status)
					}
				}
				lat[k] = time.Since(t0)
				if err != nil {
					next.Lock()
					failed = firstErr(failed, err)
					i = m
					next.Unlock()
					return
				}
			}
		})
	}
	wg.Wait()
	return lat, time.Since(start), failed
}

// apiLatency is row 4: create-job latency through HTTP on loopback from 16
// clients, with 0, 10,000 and 100,000 jobs stored.
func apiLatency(ctx context.Context, e *env) ([]Row, error) {
	const clients = 16
	m := e.size(1000, 5000)
	var rows []Row
	var base time.Duration
	for _, stored := range []int{0, e.size(2000, 10000), e.size(5000, 100000)} {
		dir, err := e.dir("api")
		if err != nil {
			return rows, err
		}
		e.logf("row 4: %d creates from %d clients with %d jobs stored", m, clients, stored)
		if _, err := populate(ctx, dir, stored, dailyJobs); err != nil {
			return rows, err
		}
		p, err := e.startDev(ctx, dir)
		if err != nil {
			return rows, err
		}
		lat, wall, err := creates(ctx, p.url, m, clients)
		p.stop()
		os.RemoveAll(dir)
		if err != nil {
			return rows, fmt.Errorf("%w\n%s", err, tail(p.log.Bytes(), 2000))
		}
		p50, p99 := pct(lat, 50), pct(lat, 99)
		r := Row{N: 4, Measure: fmt.Sprintf("API create job, %d clients, loopback, %d stored", clients, stored),
			Figure: fmt.Sprintf("p50 %s, p99 %s, %.0f creates/s", ms(p50), ms(p99), float64(m)/wall.Seconds())}
		if stored == 0 {
			base = p50
			r.Baseline, r.Ratio = "—", "—"
			r.Ambition, r.Met = "p50 ≤ 0.5 ms, p99 ≤ 5 ms", met(p50 <= 500*time.Microsecond && p99 <= 5*time.Millisecond)
		} else {
			r.Baseline = "p50 with 0 stored " + ms(base)
			r.Ratio = ratio(float64(p50), float64(base))
			r.Ambition = "≤ 1.2× of 0 stored"
			r.Met = met(float64(p50) <= 1.2*float64(base))
		}
		rows = append(rows, r)
	}
	return rows, nil
}

// memory is row 5: resident memory per stored job and the restart time of
// the dev server with them, against the same server empty.
func memory(ctx context.Context, e *env) ([]Row, error) {
	n := e.size(5000, 100000)
	type probe struct {
		rss, anon int64
		start     time.Duration
		size      int64
	}
	measure := func(stored int) (probe, error) {
		var pr probe
		dir, err := e.dir("mem")
		if err != nil {
			return pr, err
		}
		defer os.RemoveAll(dir)
		if _, err := populate(ctx, dir, stored, dailyJobs); err != nil {
			return pr, err
		}
		if fi, err := os.Stat(filepath.Join(dir, "fleetcron.db")); err == nil {
			pr.size = fi.Size()
		}
		// Restart twice: the first start also warms the page cache.
		for range 2 {
			p, err := e.startDev(ctx, dir)
			if err != nil {
				return pr, err
			}
			pr.start = p.start
			pr.rss, err = settledRSS(p.cmd.Process.Pid)
			if st, serr := procStatus(p.cmd.Process.Pid); serr == nil {
				pr.anon = st["RssAnon"]
			}
			p.stop()
			if err != nil {
				return pr, err
			}
		}
		return pr, nil
	}
	e.logf("row 5: dev server empty, then with %d jobs", n)
	empty, err := measure(0)
	if err != nil {
		return nil, err
	}
	full, err := measure(n)
	if err != nil {
		return nil, err
	}
	per := float64(full.rss-empty.rss) / float64(n)
	return []Row{
		{N: 5, Measure: fmt.Sprintf("memory per stored job (dev server RSS with %d jobs minus empty)", n),
			Figure: fmt.Sprintf("%s/job, of which %s heap and stacks, the rest database pages mapped (RSS %s; database file %s)",
				kb(per), kb(float64(full.anon-empty.anon)/float64(n)), kb(float64(full.rss)), kb(float64(full.size))),
			Baseline: "empty server RSS " + kb(float64(empty.rss)), Ratio: ratio(float64(full.rss), float64(empty.rss)),
			Ambition: "≤ 1 KB/job", Met: met(per <= 1024)},
		{N: 5, Measure: fmt.Sprintf("restart to API listening with %d jobs", n), Figure: ms(full.start),
			Baseline: "empty server " + ms(empty.start), Ratio: ratio(float64(full.start), float64(empty.start)),
			Ambition: "≤ 2 s", Met: met(full.start <= 2*time.Second)},
	}, nil
}
