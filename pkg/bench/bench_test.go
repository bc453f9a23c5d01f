package bench

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
)

func TestPercentileIsNearestRankWithMissingLast(t *testing.T) {
	var ds []time.Duration
	for i := 1; i <= 100; i++ {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	if p := pct(ds, 50); p != 50*time.Millisecond {
		t.Errorf("p50 = %v", p)
	}
	if p := pct(ds, 99); p != 99*time.Millisecond {
		t.Errorf("p99 = %v", p)
	}
	ds[3], ds[7] = missing, missing // two never started: p99 must say so
	if p := pct(ds, 99); p != missing {
		t.Errorf("p99 with 2%% missing = %v, want missing", p)
	}
	if ms(missing) != "never" {
		t.Error("missing is not shown as never")
	}
}

func TestReadStamps(t *testing.T) {
	path := filepath.Join(t.TempDir(), "stamps")
	body := "j1 2026-11-22T10:00:00Z 1795341600.001500\nj2 2026-11-22T10:00:00Z 1795341600.25\npartial-line\n"
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	ss, err := readStamps(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(ss) != 2 || ss[0].job != "j1" || ss[0].at != time.Unix(1795341600, 1500000) || ss[1].at != time.Unix(1795341600, 250000000) {
		t.Fatalf("stamps %+v", ss)
	}
}

// A send recorded after the receive it fed is replayed before it.
func TestRecorderPutsSendsBeforeTheirReceives(t *testing.T) {
	r := &recorder{}
	r.start()
	r.calls = []call{{op: "PutItem"}, {op: "ReceiveMessage", params: &awssqs.ReceiveMessageInput{}},
		{op: "SendMessage", params: &awssqs.SendMessageInput{}}, {op: "UpdateItem"}}
	got := r.stop()
	want := []string{"PutItem", "SendMessage", "ReceiveMessage", "UpdateItem"}
	for i, c := range got {
		if c.op != want[i] {
			t.Fatalf("order %v, want %v", got, want)
		}
	}
}
