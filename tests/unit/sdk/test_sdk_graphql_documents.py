"""The SDK's GraphQL documents are valid against the contract's schema (DESIGN / CONTRACT)."""

from __future__ import annotations

import pytest

from plinth import _graphql as gql

graphql = pytest.importorskip("graphql")  # graphql-core: a server dependency (strawberry)

CONTRACT_SDL = """
scalar DateTime
type Query { models: [Model!]!  model(name: String!): Model  deployment(id: ID!): Deployment }
type Model { name: String!  createdAt: DateTime!  scaling: Scaling!  deployments: [Deployment!]!
             activeDeployment: Deployment }
type Deployment { id: ID!  modelName: String!  version: Int!  huggingFaceRepo: String!
  revision: String  resolvedRevision: String  task: String  engine: String!
  status: DeploymentStatus!  error: String  createdAt: DateTime!  replicas: [Replica!]!
  events: [DeploymentEvent!]! }
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
  task: String  engine: String = "transformers"  scaling: ScalingInput }
type ValidationError { field: String!  message: String! }
type NotFoundError { message: String! }
type DeletedModel { name: String! }
union DeployModelResult = Deployment | ValidationError
union UpdateScalingResult = Model | ValidationError | NotFoundError
union DeleteModelResult = DeletedModel | NotFoundError
type Mutation { deployModel(input: DeployModelInput!): DeployModelResult!
  updateScaling(model: String!, scaling: ScalingInput!): UpdateScalingResult!
  deleteModel(name: String!): DeleteModelResult! }
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
    ],
)
def test_document_is_valid_against_the_contract(document: str) -> None:
    schema = graphql.build_schema(CONTRACT_SDL)
    errors = graphql.validate(schema, graphql.parse(document))
    assert errors == []
