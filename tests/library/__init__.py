"""Tests of the construct library as another CDK app imports it (no app layer, no cdk.json)."""
