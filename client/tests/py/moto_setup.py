"""Creates, in a running moto server, what `serverless deploy` creates for the client: a User Pool
(email as username), an app client allowing SRP, password and refresh-token auth, an Identity Pool
trusting that client, and a CloudFormation stack whose outputs name them (as serverless.yml does).

Usage: moto_setup.py ENDPOINT REGION STACK_NAME API_URL  -> prints the ids as JSON.
Credentials and region come from the environment (anything works with moto).
"""

import json
import sys

import boto3


def main():
    endpoint, region, stack_name, api_url = sys.argv[1:5]
    session = boto3.session.Session(region_name=region)
    idp = session.client("cognito-idp", endpoint_url=endpoint)
    identity = session.client("cognito-identity", endpoint_url=endpoint)
    cloudformation = session.client("cloudformation", endpoint_url=endpoint)

    pool_id = idp.create_user_pool(
        PoolName=f"{stack_name}-users",
        UsernameAttributes=["email"],
        AutoVerifiedAttributes=["email"],
    )["UserPool"]["Id"]
    client_id = idp.create_user_pool_client(
        UserPoolId=pool_id,
        ClientName=f"{stack_name}-cli",
        GenerateSecret=False,
        ExplicitAuthFlows=["ALLOW_USER_SRP_AUTH", "ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
    )["UserPoolClient"]["ClientId"]
    identity_pool_id = identity.create_identity_pool(
        IdentityPoolName=stack_name.replace("-", "_"),
        AllowUnauthenticatedIdentities=False,
        CognitoIdentityProviders=[
            {"ProviderName": f"cognito-idp.{region}.amazonaws.com/{pool_id}", "ClientId": client_id}
        ],
    )["IdentityPoolId"]

    outputs = {
        "HttpApiUrl": api_url,
        "UserPoolId": pool_id,
        "UserPoolClientId": client_id,
        "IdentityPoolId": identity_pool_id,
        "Region": region,
    }
    template = {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Resources": {"Placeholder": {"Type": "AWS::CloudFormation::WaitConditionHandle"}},
        "Outputs": {key: {"Value": value} for key, value in outputs.items()},
    }
    cloudformation.create_stack(StackName=stack_name, TemplateBody=json.dumps(template))
    json.dump(outputs, sys.stdout)


if __name__ == "__main__":
    main()
