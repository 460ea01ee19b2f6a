"""The security-critical facts of the deployed stack, read from the CloudFormation template osls generates.

Each test names the fact it guards; each would fail if serverless.yml were changed to break that fact.
"""

from __future__ import annotations

import re

import pytest

STAGES = ["dev", "prod"]
PRIVATE_ROUTE = "GET /private"
PUBLIC_ROUTE = "GET /"


def resources_of(template: dict, type_name: str) -> dict[str, dict]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == type_name}


def the_one(template: dict, type_name: str) -> tuple[str, dict]:
    found = resources_of(template, type_name)
    assert len(found) == 1, f"expected exactly one {type_name}, found {sorted(found)}"
    return next(iter(found.items()))


def as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def statements(policy_document: dict) -> list[dict]:
    return as_list(policy_document["Statement"])


def role_statements(role: dict) -> list[dict]:
    return [s for policy in role["Properties"].get("Policies", []) for s in statements(policy["PolicyDocument"])]


def function_role(template: dict, function: dict) -> tuple[str, dict]:
    role_ref = function["Properties"]["Role"]
    assert "Fn::GetAtt" in role_ref, f"function role must be a role of this stack, got {role_ref}"
    name = role_ref["Fn::GetAtt"][0]
    return name, template["Resources"][name]


@pytest.fixture(params=STAGES)
def template(request, package_template) -> dict:
    return package_template(request.param)


# --- HTTP API: AWS_IAM on /private, and only there -----------------------------------------------------------------


def routes(template: dict) -> dict[str, dict]:
    return {r["Properties"]["RouteKey"]: r["Properties"] for r in resources_of(template, "AWS::ApiGatewayV2::Route").values()}


def test_the_api_has_exactly_the_public_and_the_private_route(template):
    assert sorted(routes(template)) == [PUBLIC_ROUTE, PRIVATE_ROUTE]


def test_private_route_requires_sigv4_signed_iam_credentials(template):
    assert routes(template)[PRIVATE_ROUTE].get("AuthorizationType") == "AWS_IAM"


def test_public_route_has_no_authorizer(template):
    assert routes(template)[PUBLIC_ROUTE].get("AuthorizationType", "NONE") == "NONE"


def test_api_stage_is_throttled(template):
    _, stage = the_one(template, "AWS::ApiGatewayV2::Stage")
    settings = stage["Properties"]["DefaultRouteSettings"]
    assert 0 < settings["ThrottlingRateLimit"] <= settings["ThrottlingBurstLimit"]


# --- Cognito: no guest credentials, only signed-in users of this pool ----------------------------------------------


def test_identity_pool_refuses_unauthenticated_identities(template):
    _, pool = the_one(template, "AWS::Cognito::IdentityPool")
    props = pool["Properties"]
    assert props["AllowUnauthenticatedIdentities"] is False
    assert props.get("AllowClassicFlow", False) is False


def test_identity_pool_trusts_only_this_user_pool_client(template):
    client_name, _ = the_one(template, "AWS::Cognito::UserPoolClient")
    pool_name, _ = the_one(template, "AWS::Cognito::UserPool")
    _, identity_pool = the_one(template, "AWS::Cognito::IdentityPool")
    providers = identity_pool["Properties"]["CognitoIdentityProviders"]
    assert providers == [
        {
            "ClientId": {"Ref": client_name},
            "ProviderName": {"Fn::GetAtt": [pool_name, "ProviderName"]},
            "ServerSideTokenCheck": True,
        }
    ]
    assert not identity_pool["Properties"].get("SupportedLoginProviders"), "no other identity providers"
    assert not identity_pool["Properties"].get("OpenIdConnectProviderARNs")


def authenticated_role(template: dict) -> tuple[str, dict]:
    _, attachment = the_one(template, "AWS::Cognito::IdentityPoolRoleAttachment")
    roles = attachment["Properties"]["Roles"]
    assert set(roles) == {"authenticated"}, f"only an authenticated role may be attached, got {sorted(roles)}"
    assert "RoleMappings" not in attachment["Properties"], "role mappings would bypass the authenticated role"
    name = roles["authenticated"]["Fn::GetAtt"][0]
    return name, template["Resources"][name]


def test_role_attachment_targets_this_identity_pool(template):
    pool_name, _ = the_one(template, "AWS::Cognito::IdentityPool")
    _, attachment = the_one(template, "AWS::Cognito::IdentityPoolRoleAttachment")
    assert attachment["Properties"]["IdentityPoolId"] == {"Ref": pool_name}


def test_authenticated_role_trust_requires_this_pool_and_authenticated_amr(template):
    pool_name, _ = the_one(template, "AWS::Cognito::IdentityPool")
    _, role = authenticated_role(template)
    trust = statements(role["Properties"]["AssumeRolePolicyDocument"])
    assert len(trust) == 1, trust
    (stmt,) = trust
    assert stmt["Effect"] == "Allow"
    assert stmt["Principal"] == {"Federated": "cognito-identity.amazonaws.com"}
    assert as_list(stmt["Action"]) == ["sts:AssumeRoleWithWebIdentity"]
    assert stmt["Condition"] == {
        "StringEquals": {"cognito-identity.amazonaws.com:aud": {"Ref": pool_name}},
        "ForAnyValue:StringLike": {"cognito-identity.amazonaws.com:amr": "authenticated"},
    }


def test_authenticated_role_may_only_invoke_the_private_route(template):
    api_name, _ = the_one(template, "AWS::ApiGatewayV2::Api")
    _, role = authenticated_role(template)
    assert not role["Properties"].get("ManagedPolicyArns"), "no managed policies on the authenticated role"
    granted = role_statements(role)
    assert len(granted) == 1, granted
    (stmt,) = granted
    assert stmt["Effect"] == "Allow"
    assert as_list(stmt["Action"]) == ["execute-api:Invoke"]
    resources = as_list(stmt["Resource"])
    assert len(resources) == 1
    arn = resources[0]["Fn::Sub"]
    # api-id/stage/METHOD/path: this API (by reference), any stage (there is one), GET, exactly /private.
    assert arn == (
        "arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${" + api_name + "}/*/GET/private"
    )


def test_no_other_policy_attaches_to_the_authenticated_role(template):
    role_name, _ = authenticated_role(template)
    for type_name in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
        for name, policy in resources_of(template, type_name).items():
            assert {"Ref": role_name} not in policy["Properties"].get("Roles", []), name


def test_user_pool_signs_in_by_email_with_a_strong_password_policy(template):
    _, pool = the_one(template, "AWS::Cognito::UserPool")
    props = pool["Properties"]
    assert props["UsernameAttributes"] == ["email"]
    policy = props["Policies"]["PasswordPolicy"]
    assert policy["MinimumLength"] >= 12
    for requirement in ("RequireLowercase", "RequireUppercase", "RequireNumbers", "RequireSymbols"):
        assert policy[requirement] is True, requirement


def test_app_client_is_public_and_allows_only_srp_and_refresh(template):
    _, client = the_one(template, "AWS::Cognito::UserPoolClient")
    props = client["Properties"]
    assert props["GenerateSecret"] is False
    assert sorted(props["ExplicitAuthFlows"]) == ["ALLOW_REFRESH_TOKEN_AUTH", "ALLOW_USER_SRP_AUTH"]
    assert props["PreventUserExistenceErrors"] == "ENABLED"


# --- the function: s3:ListAllMyBuckets and nothing else ------------------------------------------------------------


def test_function_may_list_buckets_and_nothing_else(template):
    functions = resources_of(template, "AWS::Lambda::Function")
    assert len(functions) == 1
    (function,) = functions.values()
    role_name, role = function_role(template, function)
    assert not role["Properties"].get("ManagedPolicyArns"), "managed policies would widen the function's rights"
    for type_name in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
        for name, policy in resources_of(template, type_name).items():
            assert {"Ref": role_name} not in policy["Properties"].get("Roles", []), name

    aws_actions: list[str] = []
    for stmt in role_statements(role):
        assert stmt["Effect"] == "Allow"
        assert "NotAction" not in stmt and "NotResource" not in stmt
        actions = as_list(stmt["Action"])
        if all(a.startswith("logs:") for a in actions):
            # The framework's CloudWatch Logs grant: writes to this function's own log group only.
            assert set(actions) <= {"logs:CreateLogStream", "logs:CreateLogGroup", "logs:TagResource", "logs:PutLogEvents"}
            for resource in as_list(stmt["Resource"]):
                assert ":log-group:/aws/lambda/aws-rust-http-api-" in resource["Fn::Sub"], resource
            continue
        aws_actions += actions
        assert as_list(stmt["Resource"]) == ["*"]  # ListAllMyBuckets has no resource-level scoping
    assert aws_actions == ["s3:ListAllMyBuckets"]


def test_function_is_the_arm64_container_image(template):
    _, function = the_one(template, "AWS::Lambda::Function")
    props = function["Properties"]
    assert props["PackageType"] == "Image"
    assert props["Architectures"] == ["arm64"]
    assert "ImageUri" in props["Code"]
    assert "Handler" not in props and "Runtime" not in props


# --- no plaintext secret in the function's environment -------------------------------------------------------------

SECRET_NAME = re.compile(r"HEADER|SECRET|TOKEN|PASSWORD|PASSWD|API_?KEY|AUTH|CREDENTIAL|PRIVATE_KEY", re.I)
SECRET_VALUE = [
    re.compile(r"(?i)\b(authorization|x-api-key|api-key|apikey|x-honeycomb-team|dd-api-key|signoz-access-token)\s*="),
    re.compile(r"(?i)\b(basic|bearer)(\s|%20)+[A-Za-z0-9+/=._-]{8,}"),
    re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b"),
    re.compile(r"(?i)://[^/\s:@]+:[^/\s@]+@"),  # credentials in a URL
]
DYNAMIC_REFERENCE = re.compile(r"^\{\{resolve:(secretsmanager|ssm):[^}]+\}\}$")


def plaintext_secrets(environment: dict) -> list[str]:
    """Names of variables whose value is, or looks like, a literal secret."""
    bad = []
    for name, value in environment.items():
        if not isinstance(value, str):
            continue  # an intrinsic function (Ref, GetAtt, ImportValue): resolved by CloudFormation
        if DYNAMIC_REFERENCE.match(value):
            continue  # resolved by CloudFormation at deploy time; the template holds only the reference
        if SECRET_NAME.search(name) and value != "":
            bad.append(name)
        elif any(p.search(value) for p in SECRET_VALUE):
            bad.append(name)
    return bad


def test_no_plaintext_secret_in_any_environment_variable(template):
    for name, function in resources_of(template, "AWS::Lambda::Function").items():
        environment = function["Properties"].get("Environment", {}).get("Variables", {})
        assert plaintext_secrets(environment) == [], name


def test_otlp_headers_can_come_from_secrets_manager(package_template):
    reference = "{{resolve:secretsmanager:aws-rust-http-api/prod/otlp:SecretString:headers}}"
    template = package_template("prod", otlpHeaders=reference, otlpEndpoint="https://otlp.example.com/otlp")
    _, function = the_one(template, "AWS::Lambda::Function")
    environment = function["Properties"]["Environment"]["Variables"]
    assert environment["OTEL_EXPORTER_OTLP_HEADERS"] == reference
    assert environment["OTEL_EXPORTER_OTLP_ENDPOINT"] == "https://otlp.example.com/otlp"
    assert plaintext_secrets(environment) == []


def test_the_secret_detector_catches_a_literal_otlp_header(package_template):
    """Negative control: a literal API key passed as a stage parameter must be flagged."""
    template = package_template("dev", otlpHeaders="Authorization=Basic%20dXNlcjpzM2NyZXQtdG9rZW4=")
    _, function = the_one(template, "AWS::Lambda::Function")
    assert plaintext_secrets(function["Properties"]["Environment"]["Variables"]) == ["OTEL_EXPORTER_OTLP_HEADERS"]


@pytest.mark.parametrize(
    "environment, flagged",
    [
        ({"OTEL_EXPORTER_OTLP_HEADERS": ""}, []),
        ({"OTEL_EXPORTER_OTLP_HEADERS": "x-honeycomb-team=abc123"}, ["OTEL_EXPORTER_OTLP_HEADERS"]),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "https://user:pw@otlp.example.com"}, ["OTEL_EXPORTER_OTLP_ENDPOINT"]),
        ({"SOMETHING": "Bearer eyJhbGciOiJIUzI1NiJ9"}, ["SOMETHING"]),
        ({"AWS_KEY": "AKIAIOSFODNN7EXAMPLE"}, ["AWS_KEY"]),
        ({"OTEL_EXPORTER_OTLP_HEADERS": "{{resolve:ssm:/otlp/headers}}"}, []),
        ({"OTEL_SERVICE_NAME": "aws-rust-http-api", "RUST_LOG": "info"}, []),
    ],
)
def test_secret_detector(environment, flagged):
    assert plaintext_secrets(environment) == flagged


# --- what the client CLI and the README read from the stack ---------------------------------------------------------


def test_outputs_give_everything_the_client_needs(template):
    outputs = template["Outputs"]
    for key in ("HttpApiUrl", "Region", "UserPoolId", "UserPoolClientId", "IdentityPoolId"):
        assert key in outputs, key
    assert outputs["Region"]["Value"] == {"Ref": "AWS::Region"}
    assert outputs["UserPoolId"]["Value"] == {"Ref": the_one(template, "AWS::Cognito::UserPool")[0]}
    assert outputs["UserPoolClientId"]["Value"] == {"Ref": the_one(template, "AWS::Cognito::UserPoolClient")[0]}
    assert outputs["IdentityPoolId"]["Value"] == {"Ref": the_one(template, "AWS::Cognito::IdentityPool")[0]}


def test_prod_keeps_the_user_pool_when_the_stack_goes(package_template):
    _, pool = the_one(package_template("prod"), "AWS::Cognito::UserPool")
    assert pool["DeletionPolicy"] == "Retain" and pool["UpdateReplacePolicy"] == "Retain"
