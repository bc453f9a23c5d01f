// Command app is fleetcron's CDK app (cdk.json runs it): the fleetcron stack
// with cdk-nag's AwsSolutions checks, and, when FLEETCRON_AGENT_VPC_ID is
// set, an agent fleet in that VPC. Artifacts come from make build.
package main

import (
	"os"
	"path/filepath"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsec2"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/fleetcron/fleetcron/infra"
)

func main() {
	defer jsii.Close()
	arch := os.Getenv("ARCH")
	if arch == "" {
		arch = "arm64"
	}
	bin := filepath.Join("bin", arch)
	app := awscdk.NewApp(nil)
	// Environment-agnostic unless the CLI knows the account (cdk deploy with
	// credentials); an agent VPC lookup needs the account.
	var env *awscdk.Environment
	if acct, region := os.Getenv("CDK_DEFAULT_ACCOUNT"), os.Getenv("CDK_DEFAULT_REGION"); acct != "" && region != "" {
		env = &awscdk.Environment{Account: jsii.String(acct), Region: jsii.String(region)}
	}
	fs := infra.NewFleetcronStack(app, "Fleetcron", &infra.FleetcronStackProps{
		StackProps:         awscdk.StackProps{Env: env},
		FunctionsDir:       bin,
		DeletionProtection: os.Getenv("FLEETCRON_DELETION_PROTECTION") == "true",
	})
	if vpcID := os.Getenv("FLEETCRON_AGENT_VPC_ID"); vpcID != "" {
		vpc := awsec2.Vpc_FromLookup(fs.Stack, jsii.String("AgentVpc"), &awsec2.VpcLookupOptions{VpcId: jsii.String(vpcID)})
		infra.NewAgentFleet(fs.Stack, "Agents", &infra.AgentFleetProps{Fleetcron: fs, Vpc: vpc,
			AgentDir: filepath.Join(bin, "agent"), MinCapacity: 2, MaxCapacity: 4})
	}
	awscdk.Aspects_Of(app).Add(cdknag.NewAwsSolutionsChecks(&cdknag.NagPackProps{Verbose: jsii.Bool(true)}), nil)
	app.Synth(nil)
}
