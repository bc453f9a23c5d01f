package infra

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsautoscaling"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsec2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3assets"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// newAgentPolicy is the managed policy of agent instances: the runs they
// claim and report, the queues they poll, the blobs they fetch and the full
// outputs they store. Nothing else.
func newAgentPolicy(scope constructs.Construct, name string, fs *FleetcronStack, tableRes, blobs []*string) awsiam.ManagedPolicy {
	var queues []*string
	for _, pool := range sortedPools(fs.Queues) {
		queues = append(queues, fs.Queues[pool].QueueArn())
	}
	stmt := func(actions []string, resources []*string) awsiam.PolicyStatement {
		var acts []*string
		for _, a := range actions {
			acts = append(acts, s(a))
		}
		return awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{Actions: &acts, Resources: &resources})
	}
	return awsiam.NewManagedPolicy(scope, s("AgentPolicy"), &awsiam.ManagedPolicyProps{
		ManagedPolicyName: s(name + "-agent"),
		Description:       s("fleetcron agent: claim and report runs, poll queues, fetch and store blobs"),
		Statements: &[]awsiam.PolicyStatement{
			stmt([]string{"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"}, tableRes[:1]),
			stmt([]string{"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility"}, queues),
			stmt([]string{"s3:GetObject", "s3:PutObject"}, blobs),
		},
	})
}

// AgentFleetProps attaches agents to an autoscaling group.
type AgentFleetProps struct {
	Fleetcron *FleetcronStack
	// AutoScalingGroup is an existing group (give its instance role as
	// InstanceRole); nil creates one from the fields below (Amazon Linux
	// 2023 on a launch template, IMDSv2 required).
	AutoScalingGroup awsautoscaling.AutoScalingGroup
	InstanceRole     awsiam.IRole
	Vpc              awsec2.IVpc
	InstanceType     awsec2.InstanceType // t4g.small when nil
	MinCapacity      float64
	MaxCapacity      float64
	// AgentDir holds fleetcron-agent, install.sh and fleetcron-agent.service
	// (make build puts them in bin/$ARCH/agent).
	AgentDir string
	// Pools the agents poll ("default" when empty), comma-separated.
	Pools string
	// Drain is how long agents let runs finish on termination (2 minutes).
	Drain awscdk.Duration
}

// AgentFleet is agents attached to an autoscaling group.
type AgentFleet struct {
	constructs.Construct
	AutoScalingGroup awsautoscaling.AutoScalingGroup
	LifecycleHook    awsautoscaling.LifecycleHook
	// UserData is the snippet that installs the agent (for a group managed
	// elsewhere: paste it into its user data, attach the agent policy).
	UserData *string
}

// NewAgentFleet adds the agent to an autoscaling group: the agent policy on
// its instance role, user data installing the agent from an S3 asset as a
// systemd service, and the termination lifecycle hook the agent completes
// after draining.
func NewAgentFleet(scope constructs.Construct, id string, props *AgentFleetProps) *AgentFleet {
	c := constructs.NewConstruct(scope, s(id))
	af := &AgentFleet{Construct: c}
	fs := props.Fleetcron
	pools := props.Pools
	if pools == "" {
		pools = "default"
	}
	drain := props.Drain
	if drain == nil {
		drain = awscdk.Duration_Minutes(jsii.Number(2))
	}
	stack := awscdk.Stack_Of(c)
	asg, role := props.AutoScalingGroup, props.InstanceRole
	userData := awsec2.UserData_ForLinux(nil)
	groupName := *stack.StackName() + "-" + id
	if asg == nil {
		it := props.InstanceType
		if it == nil {
			it = awsec2.NewInstanceType(s("t4g.small"))
		}
		minCap, maxCap := props.MinCapacity, props.MaxCapacity
		if minCap == 0 {
			minCap = 1
		}
		if maxCap < minCap {
			maxCap = minCap
		}
		role = awsiam.NewRole(c, s("InstanceRole"), &awsiam.RoleProps{
			AssumedBy: awsiam.NewServicePrincipal(s("ec2.amazonaws.com"), nil), Description: s("fleetcron agent instances")})
		lt := awsec2.NewLaunchTemplate(c, s("LaunchTemplate"), &awsec2.LaunchTemplateProps{
			InstanceType: it,
			MachineImage: awsec2.MachineImage_LatestAmazonLinux2023(&awsec2.AmazonLinux2023ImageSsmParameterProps{
				CpuType: awsec2.AmazonLinuxCpuType_ARM_64}),
			Role:          role,
			RequireImdsv2: jsii.Bool(true),
			UserData:      userData,
			BlockDevices: &[]*awsec2.BlockDevice{{DeviceName: s("/dev/xvda"),
				Volume: awsec2.BlockDeviceVolume_Ebs(jsii.Number(16), &awsec2.EbsDeviceOptions{Encrypted: jsii.Bool(true)})}},
		})
		asg = awsautoscaling.NewAutoScalingGroup(c, s("Group"), &awsautoscaling.AutoScalingGroupProps{
			AutoScalingGroupName: s(groupName),
			Vpc:                  props.Vpc,
			LaunchTemplate:       lt,
			MinCapacity:          jsii.Number(minCap),
			MaxCapacity:          jsii.Number(maxCap),
		})
	}
	af.AutoScalingGroup = asg
	if props.AutoScalingGroup == nil {
		suppress(asg, "AwsSolutions-AS3", "agents report their state behind GET /agents and drain on termination; scaling notifications are the operator's choice")
	}
	if role != nil {
		role.AddManagedPolicy(fs.AgentPolicy)
	}

	asset := awss3assets.NewAsset(c, s("AgentBundle"), &awss3assets.AssetProps{Path: s(props.AgentDir)})
	hook := asg.AddLifecycleHook(s("Drain"), &awsautoscaling.BasicLifecycleHookProps{
		LifecycleHookName:   s("fleetcron-drain"),
		LifecycleTransition: awsautoscaling.LifecycleTransition_INSTANCE_TERMINATING,
		HeartbeatTimeout:    awscdk.Duration_Seconds(jsii.Number(*drain.ToSeconds(nil) + 120)),
		DefaultResult:       awsautoscaling.DefaultResult_CONTINUE,
	})
	af.LifecycleHook = hook
	if role != nil {
		// By name, not by reference: the group depends on the role's policy.
		groupARN := fmt.Sprintf("arn:%s:autoscaling:%s:%s:autoScalingGroup:*:autoScalingGroupName/%s",
			*stack.Partition(), *stack.Region(), *stack.Account(), groupName)
		if props.AutoScalingGroup != nil {
			groupARN = *asg.AutoScalingGroupArn()
		}
		role.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Actions: &[]*string{s("s3:GetObject")}, Resources: &[]*string{asset.Bucket().ArnForObjects(asset.S3ObjectKey())}}))
		role.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Actions: &[]*string{s("autoscaling:CompleteLifecycleAction")}, Resources: &[]*string{s(groupARN)}}))
		suppress(role, "AwsSolutions-IAM5", "the group's ARN holds a UUID known only once it exists; the name pins it to this group")
	}

	parts := []*string{s("set -euo pipefail\nmkdir -p /opt/fleetcron && cd /opt/fleetcron\naws s3 cp --only-show-errors s3://"),
		asset.S3BucketName(), s("/"), asset.S3ObjectKey(), s(" agent.zip\npython3 -m zipfile -e agent.zip .\nchmod +x install.sh\n./install.sh ./fleetcron-agent")}
	env := map[string]*string{}
	for k, v := range fs.AgentEnv {
		env[k] = v
	}
	env["FLEETCRON_POOLS"] = s(pools)
	env["FLEETCRON_LIFECYCLE_HOOK"] = s("fleetcron-drain")
	env["FLEETCRON_ASG"] = s(groupName)
	if props.AutoScalingGroup != nil {
		env["FLEETCRON_ASG"] = asg.AutoScalingGroupName()
	}
	env["AWS_REGION"] = awscdk.Stack_Of(c).Region()
	for _, k := range sortedPools(env) {
		parts = append(parts, s(fmt.Sprintf(" '%s=", k)), env[k], s("'"))
	}
	parts = append(parts, s(fmt.Sprintf(" 'FLEETCRON_DRAIN=%ds'\n", int(*drain.ToSeconds(nil)))))
	af.UserData = awscdk.Fn_Join(s(""), &parts)
	userData.AddCommands(af.UserData)
	awscdk.NewCfnOutput(c, s("UserData"), &awscdk.CfnOutputProps{Value: af.UserData,
		Description: s("user data that installs the fleetcron agent (for a group managed elsewhere)")})
	return af
}
