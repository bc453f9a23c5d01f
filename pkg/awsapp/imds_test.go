package awsapp_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fleetcron/fleetcron/pkg/fleetcron"
)

// fakeIMDS is a loopback instance metadata service (IMDSv2: token first)
// whose termination and Spot notices a test switches on.
type fakeIMDS struct {
	terminating, spot atomic.Bool
	tokens            atomic.Int32
}

func (f *fakeIMDS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPut && r.URL.Path == "/latest/api/token" {
		f.tokens.Add(1)
		w.Header().Set("X-Aws-Ec2-Metadata-Token-Ttl-Seconds", r.Header.Get("X-Aws-Ec2-Metadata-Token-Ttl-Seconds"))
		w.Write([]byte("token-1"))
		return
	}
	if r.Header.Get("X-Aws-Ec2-Metadata-Token") != "token-1" {
		http.Error(w, "IMDSv2 token required", http.StatusUnauthorized)
		return
	}
	switch r.URL.Path {
	case "/latest/dynamic/instance-identity/document":
		w.Write([]byte(`{"instanceId":"i-0fleet","region":"us-east-1","accountId":"123456789012"}`))
	case "/latest/meta-data/autoscaling/target-lifecycle-state":
		if f.terminating.Load() {
			w.Write([]byte("Terminated"))
		} else {
			w.Write([]byte("InService"))
		}
	case "/latest/meta-data/spot/instance-action":
		if f.spot.Load() {
			w.Write([]byte(`{"action":"terminate","time":"2026-11-22T11:00:00Z"}`))
			return
		}
		http.NotFound(w, r)
	default:
		http.NotFound(w, r)
	}
}

// An autoscaling termination (lifecycle state from IMDSv2) and a Spot
// interruption notice each make the agent drain: the run in flight is
// handed back and finished by another agent, then the agent exits (and,
// with a lifecycle hook, completes it).
func TestAgentDrainsOnTerminationAndSpotNotices(t *testing.T) {
	d := deploy(t)
	// moto answers CompleteLifecycleAction with a 500: a loopback stand-in
	// for the Auto Scaling API records the call and what the run looked
	// like at that moment.
	var runID atomic.Value
	type completion struct{ form, holder string }
	completed := make(chan completion, 4)
	asAPI := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		holder := ""
		if id, _ := runID.Load().(string); id != "" {
			if run, err := d.app.Store.GetRun(r.Context(), id); err == nil {
				holder = run.LeaseOwner
			}
		}
		completed <- completion{form: r.Form.Encode(), holder: holder}
		w.Header().Set("Content-Type", "text/xml")
		w.Write([]byte(`<CompleteLifecycleActionResponse xmlns="http://autoscaling.amazonaws.com/doc/2011-01-01/"><CompleteLifecycleActionResult/><ResponseMetadata><RequestId>r1</RequestId></ResponseMetadata></CompleteLifecycleActionResponse>`))
	}))
	defer asAPI.Close()

	for _, c := range []struct {
		name    string
		trigger func(*fakeIMDS)
	}{
		{"termination", func(f *fakeIMDS) { f.terminating.Store(true) }},
		{"spot", func(f *fakeIMDS) { f.spot.Store(true) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			md := &fakeIMDS{}
			srv := httptest.NewServer(md)
			defer srv.Close()
			id := "watched-" + c.name
			d.startAgentEnv(id, []string{"AWS_EC2_METADATA_SERVICE_ENDPOINT=" + srv.URL, "AWS_EC2_METADATA_DISABLED=false",
				"AWS_ENDPOINT_URL_AUTO_SCALING=" + asAPI.URL},
				"--imds=true", "--watch", "200ms", "--lifecycle-hook", "fleetcron-drain", "--asg", "fleet")
			job := d.create(`{"executable":"echo try $FLEETCRON_ATTEMPT; if [ $FLEETCRON_ATTEMPT = 1 ]; then exec sleep 60; fi","schedule":"@daily"}`)
			id1 := d.fire(job, time.Now().UTC().Truncate(time.Minute))
			runID.Store(id1)
			held := d.waitRun(id1, 30*time.Second, running)
			if holder(held) != id {
				t.Fatalf("run held by %s, not the watched agent", held.LeaseOwner)
			}
			d.startAgent("helper-" + c.name)
			c.trigger(md)
			done := d.waitRun(id1, 40*time.Second, ended)
			if done.State != fleetcron.RunSucceeded || done.Released != 1 || !strings.Contains(done.Output, "try 2") {
				t.Fatalf("after the %s notice: %+v", c.name, done)
			}
			d.waitExit(id, 20*time.Second)
			if md.tokens.Load() == 0 {
				t.Fatal("the agent never asked IMDSv2 for a token")
			}
			select {
			case c := <-completed:
				for _, want := range []string{"Action=CompleteLifecycleAction", "AutoScalingGroupName=fleet", "InstanceId=i-0fleet",
					"LifecycleActionResult=CONTINUE", "LifecycleHookName=fleetcron-drain"} {
					if !strings.Contains(c.form, want) {
						t.Fatalf("CompleteLifecycleAction call %q lacks %q", c.form, want)
					}
				}
				if strings.HasPrefix(c.holder, id+"/") {
					t.Fatalf("the lifecycle action was completed while the agent still held its run")
				}
			default:
				t.Fatalf("the agent exited without completing the lifecycle action:\n%s", d.log(id))
			}
			d.signal("helper-"+c.name, 9)
		})
	}
}
