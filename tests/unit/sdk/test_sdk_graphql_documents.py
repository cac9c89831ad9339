"""The SDK's GraphQL documents are valid against the contract's schema (DESIGN / CONTRACT)."""

from __future__ import annotations

import pytest

from plinth import _graphql as gql

graphql = pytest.importorskip("graphql")  # graphql-core: a server dependency (strawberry)

CONTRACT_SDL = """
scalar DateTime
scalar JSON
type Query { models: [Model!]!  model(name: String!): Model  deployment(id: ID!): Deployment }
type Model { name: String!  createdAt: DateTime!  scaling: Scaling!  deployments: [Deployment!]!
             activeDeployment: Deployment  environments: [Environment!]! }
type Environment { name: String!  modelName: String!  scaling: Scaling!
  deployment: Deployment  previousDeployment: Deployment  canary: Canary
  lastRollbackReason: String }
type Canary { deployment: Deployment!  percent: Float!  autoRollback: AutoRollback }
type AutoRollback { maxErrorRate: Float  maxP95Ms: Float  windowSeconds: Float! }
input AutoRollbackInput { maxErrorRate: Float  maxP95Ms: Float  windowSeconds: Float! = 60 }
type Deployment { id: ID!  modelName: String!  version: Int!  huggingFaceRepo: String!
  revision: String  resolvedRevision: String  task: String  engine: String!
  status: DeploymentStatus!  error: String  createdAt: DateTime!  replicas: [Replica!]!
  events: [DeploymentEvent!]!  createdBy: String  environment: String
  targetEnvironment: String!  promotedFrom: ID  config: JSON!  batching: Batching! }
type Batching { maxBatchSize: Int  maxWaitMs: Float }
input BatchingInput { maxBatchSize: Int  maxWaitMs: Float }
enum DeploymentStatus { PENDING DEPLOYING ACTIVE FAILED SUPERSEDED }
enum ReplicaState { STARTING READY STOPPING FAILED }
type Replica { id: ID!  state: ReplicaState!  pid: Int  port: Int  startedAt: DateTime
               readyAt: DateTime  error: String }
type DeploymentEvent { id: ID!  deploymentId: ID!  at: DateTime!  kind: String!
                       status: DeploymentStatus!  message: String! }
type Scaling { minReplicas: Int!  maxReplicas: Int!  concurrencyTarget: Float!
  maxConcurrency: Int!  scaleDownDelaySeconds: Float!  autoscalingWindowSeconds: Float!
  maxQueue: Int!  autoscalingPolicy: String! }
input ScalingInput { minReplicas: Int  maxReplicas: Int  concurrencyTarget: Float
  maxConcurrency: Int  scaleDownDelaySeconds: Float  autoscalingWindowSeconds: Float
  maxQueue: Int  autoscalingPolicy: String }
input DeployModelInput { name: String!  huggingFaceRepo: String!  revision: String
  task: String  engine: String = "transformers"  scaling: ScalingInput
  secrets: [String!]  environment: String = "production"  batching: BatchingInput }
type ValidationError { field: String!  message: String! }
type NotFoundError { message: String!  field: String! }
type DeletedModel { name: String! }
union DeployModelResult = Deployment | ValidationError
union UpdateScalingResult = Model | ValidationError | NotFoundError
union DeleteModelResult = DeletedModel | NotFoundError
union LifecycleResult = Deployment | ValidationError | NotFoundError
union CreateEnvironmentResult = Environment | ValidationError | NotFoundError
type Mutation { deployModel(input: DeployModelInput!): DeployModelResult!
  updateScaling(model: String!, scaling: ScalingInput!,
                environment: String! = "production"): UpdateScalingResult!
  deleteModel(name: String!): DeleteModelResult!
  createEnvironment(model: String!, name: String!, scaling: ScalingInput):
    CreateEnvironmentResult!
  promoteDeployment(deploymentId: ID!, environment: String! = "production"): LifecycleResult!
  rollback(model: String!, environment: String! = "production"): LifecycleResult!
  startCanary(model: String!, deploymentId: ID!, percent: Float!,
              environment: String! = "production", autoRollback: AutoRollbackInput):
    LifecycleResult!
  promoteCanary(model: String!, environment: String! = "production"): LifecycleResult!
  abortCanary(model: String!, environment: String! = "production"): LifecycleResult! }
"""


@pytest.mark.parametrize(
    "document",
    [
        gql.DEPLOY_MODEL,
        gql.GET_MODEL,
        gql.LIST_MODELS,
        gql.GET_DEPLOYMENT,
        gql.UPDATE_SCALING,
        gql.DELETE_MODEL,
        gql.PROMOTE_DEPLOYMENT,
        gql.ROLLBACK,
        gql.START_CANARY,
        gql.PROMOTE_CANARY,
        gql.ABORT_CANARY,
        gql.CREATE_ENVIRONMENT,
        gql.LIST_ENVIRONMENTS,
    ],
)
def test_document_is_valid_against_the_contract(document: str) -> None:
    schema = graphql.build_schema(CONTRACT_SDL)
    errors = graphql.validate(schema, graphql.parse(document))
    assert errors == []
