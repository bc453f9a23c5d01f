package dynamodb

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// TableAPI is what CreateTable calls.
type TableAPI interface {
	CreateTable(ctx context.Context, in *ddb.CreateTableInput, opts ...func(*ddb.Options)) (*ddb.CreateTableOutput, error)
	UpdateTimeToLive(ctx context.Context, in *ddb.UpdateTimeToLiveInput, opts ...func(*ddb.Options)) (*ddb.UpdateTimeToLiveOutput, error)
}

// CreateTable creates the table as the package doc describes (on-demand, the
// kind and owner indexes, TTL on "ttl"). The CDK stack declares the same; this
// is for tests and local emulators.
func CreateTable(ctx context.Context, api TableAPI, name string) error {
	str := types.ScalarAttributeTypeS
	gsi := func(index, pk, sk string) types.GlobalSecondaryIndex {
		return types.GlobalSecondaryIndex{IndexName: aws.String(index),
			KeySchema: []types.KeySchemaElement{{AttributeName: aws.String(pk), KeyType: types.KeyTypeHash},
				{AttributeName: aws.String(sk), KeyType: types.KeyTypeRange}},
			Projection: &types.Projection{ProjectionType: types.ProjectionTypeAll}}
	}
	var defs []types.AttributeDefinition
	for _, a := range []string{AttrPK, AttrSK, AttrKindPK, AttrKindSK, AttrOwnerPK, AttrOwnerSK} {
		defs = append(defs, types.AttributeDefinition{AttributeName: aws.String(a), AttributeType: str})
	}
	_, err := api.CreateTable(ctx, &ddb.CreateTableInput{TableName: aws.String(name), BillingMode: types.BillingModePayPerRequest,
		AttributeDefinitions: defs,
		KeySchema: []types.KeySchemaElement{{AttributeName: aws.String(AttrPK), KeyType: types.KeyTypeHash},
			{AttributeName: aws.String(AttrSK), KeyType: types.KeyTypeRange}},
		GlobalSecondaryIndexes: []types.GlobalSecondaryIndex{gsi(IndexKind, AttrKindPK, AttrKindSK), gsi(IndexOwner, AttrOwnerPK, AttrOwnerSK)}})
	if err != nil {
		return fmt.Errorf("dynamodb: create table %s: %w", name, err)
	}
	_, err = api.UpdateTimeToLive(ctx, &ddb.UpdateTimeToLiveInput{TableName: aws.String(name),
		TimeToLiveSpecification: &types.TimeToLiveSpecification{AttributeName: aws.String(AttrTTL), Enabled: aws.Bool(true)}})
	if err != nil {
		return fmt.Errorf("dynamodb: enable TTL on %s: %w", name, err)
	}
	return nil
}
