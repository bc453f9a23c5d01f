package localstack

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

func TestComposeFile(t *testing.T) {
	raw, err := os.ReadFile("docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		Services map[string]struct {
			Image       string   `yaml:"image"`
			Environment []string `yaml:"environment"`
			Ports       []string `yaml:"ports"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(raw, &c); err != nil {
		t.Fatalf("docker-compose.yml does not parse: %v", err)
	}
	ls, ok := c.Services["localstack"]
	if !ok {
		t.Fatal("no localstack service")
	}
	if !strings.HasPrefix(ls.Image, "localstack/localstack:") || strings.HasSuffix(ls.Image, ":latest") {
		t.Errorf("image %q is not a pinned LocalStack image", ls.Image)
	}
	env := strings.Join(ls.Environment, "\n")
	if !strings.Contains(env, "LOCALSTACK_AUTH_TOKEN=${LOCALSTACK_AUTH_TOKEN") {
		t.Error("the auth token is not passed through")
	}
	var services string
	for _, e := range ls.Environment {
		if v, ok := strings.CutPrefix(e, "SERVICES="); ok {
			services = "," + v + ","
		}
	}
	for _, svc := range []string{"dynamodb", "sqs", "s3", "scheduler", "lambda", "apigateway", "iam", "secretsmanager", "cloudformation", "events"} {
		if !strings.Contains(services, ","+svc+",") {
			t.Errorf("SERVICES lacks %s, which fleetcron uses", svc)
		}
	}
	if len(ls.Ports) == 0 {
		t.Fatal("no ports")
	}
	for _, p := range ls.Ports {
		if !strings.HasPrefix(p, "127.0.0.1:") {
			t.Errorf("port %q is not bound to 127.0.0.1", p)
		}
	}
}

func TestScripts(t *testing.T) {
	scripts, _ := filepath.Glob("*.sh")
	scripts = append(scripts, "../agent/install.sh", "../.ci/run")
	if len(scripts) < 4 {
		t.Fatalf("scripts: %v", scripts)
	}
	shellcheck, err := exec.LookPath("shellcheck")
	if err != nil {
		t.Fatal("shellcheck not found: make tools installs it (Debian: apt-get install shellcheck)")
	}
	for _, s := range scripts {
		if out, err := exec.Command("bash", "-n", s).CombinedOutput(); err != nil {
			t.Errorf("bash -n %s: %v\n%s", s, err, out)
		}
		if out, err := exec.Command(shellcheck, "--shell=bash", s).CombinedOutput(); err != nil {
			t.Errorf("shellcheck %s: %v\n%s", s, err, out)
		}
	}
}
