"""Creating the template's resources in moto, and answering Ref/GetAtt for every resource.

Each supported type has a creator that maps the CloudFormation properties onto the service's
create call. Properties the API does not know (or moto cannot use) are dropped by fitting them
to the botocore input shape, so a richer template never breaks the local stack. Types the
handlers do not call (alarms, log groups, IAM, layers, functions, the HTTP API) are not created;
Ref/GetAtt on them still answer with plausible local names and ARNs.
"""

from __future__ import annotations

import json
import logging
import secrets
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.client import BaseClient
from botocore.model import Shape, StructureShape

from local.intrinsics import Pseudo, Resolver, TemplateError, UnresolvedError
from local.template import Resource, Template

log = logging.getLogger("local.resources")

LOCAL_PREFIX = "tally-local-"


@dataclass
class PhysicalResource:
    logical_id: str
    type: str
    ref: Any
    attributes: dict[str, Any] = field(default_factory=dict)
    created: bool = False  # True when it exists in moto


def fit_to_shape(value: Any, shape: Shape) -> Any:
    """Coerce template data to a botocore input shape: unknown members dropped, scalars typed."""
    kind = shape.type_name
    if kind == "structure":
        if not isinstance(value, Mapping):
            return value
        members = shape.members if isinstance(shape, StructureShape) else {}
        return {key: fit_to_shape(item, members[key]) for key, item in value.items() if key in members}
    if kind == "list":
        items = value if isinstance(value, list) else [value]
        return [fit_to_shape(item, shape.member) for item in items]  # type: ignore[attr-defined]
    if kind == "map":
        if not isinstance(value, Mapping):
            return value
        return {str(key): fit_to_shape(item, shape.value) for key, item in value.items()}  # type: ignore[attr-defined]
    if kind in {"integer", "long"}:
        return int(value)
    if kind in {"float", "double"}:
        return float(value)
    if kind == "boolean":
        return value if isinstance(value, bool) else str(value).lower() == "true"
    if kind == "string":
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, dict | list):
            return json.dumps(value)
        return str(value)
    return value


def _fit(client: BaseClient, operation: str, params: Mapping[str, Any], logical_id: str) -> dict[str, Any]:
    shape = client.meta.service_model.operation_model(operation).input_shape
    if shape is None:
        return dict(params)
    dropped = sorted(set(params) - set(shape.members))
    if dropped:
        log.debug("%s: %s does not take %s; ignored locally", logical_id, operation, ", ".join(dropped))
    fitted = fit_to_shape(params, shape)
    assert isinstance(fitted, dict)
    return fitted


def _name(props: Mapping[str, Any], key: str, logical_id: str) -> str:
    explicit = props.get(key)
    return str(explicit) if explicit else f"{LOCAL_PREFIX}{logical_id}"


class ResourceRegistry:
    """What each logical id became locally; the `lookup` the intrinsic resolver calls."""

    def __init__(self, template: Template, pseudo: Pseudo, *, api_endpoint: str = "") -> None:
        self.template = template
        self.pseudo = pseudo
        self.api_endpoint = api_endpoint
        self.physical: dict[str, PhysicalResource] = {}
        self._clients: dict[str, BaseClient] = {}

    # -- clients ------------------------------------------------------------------------------

    def client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = boto3.client(service, region_name=self.pseudo.region)  # type: ignore[call-overload]
        return self._clients[service]

    # -- Ref / GetAtt -------------------------------------------------------------------------

    def lookup(self, logical_id: str, attribute: str | None) -> Any:
        physical = self.physical.get(logical_id)
        if physical is None:
            resource = self.template.resources.get(logical_id)
            if resource is not None and resource.type in CREATORS:
                raise UnresolvedError(logical_id, attribute)  # not created yet: the caller retries later
            physical = self._synthesise(logical_id, resource)
            self.physical[logical_id] = physical
        if attribute is None:
            return physical.ref
        if attribute not in physical.attributes:
            raise TemplateError(f"{logical_id} ({physical.type}) has no attribute {attribute} locally")
        return physical.attributes[attribute]

    def _arn(self, service: str, suffix: str, *, regional: bool = True) -> str:
        region = self.pseudo.region if regional else ""
        return f"arn:{self.pseudo.partition}:{service}:{region}:{self.pseudo.account_id}:{suffix}"

    def _synthesise(self, logical_id: str, resource: Resource | None) -> PhysicalResource:
        """Names and ARNs for what the local stack does not create (functions, layers, roles...)."""
        kind = resource.type if resource else "Unknown"
        props = resource.properties if resource else {}
        if resource is None:
            log.debug("Ref/GetAtt to %s, which the template does not declare; using a local name", logical_id)
        if kind in {"AWS::Serverless::Function", "AWS::Lambda::Function"}:
            name = _literal_name(props, "FunctionName", logical_id)
            arn = self._arn("lambda", f"function:{name}")
            return PhysicalResource(logical_id, kind, name, {"Arn": arn})
        if kind in {"AWS::Serverless::LayerVersion", "AWS::Lambda::LayerVersion"}:
            name = _literal_name(props, "LayerName", logical_id)
            return PhysicalResource(logical_id, kind, self._arn("lambda", f"layer:{name}:1"))
        if kind in {"AWS::Serverless::HttpApi", "AWS::ApiGatewayV2::Api"}:
            api_id = local_api_id(logical_id)
            endpoint = self.api_endpoint or f"https://{api_id}.execute-api.{self.pseudo.region}.amazonaws.com"
            return PhysicalResource(logical_id, kind, api_id, {"ApiEndpoint": endpoint, "ApiId": api_id})
        if kind == "AWS::IAM::Role":
            name = _literal_name(props, "RoleName", logical_id)
            arn = self._arn("iam", f"role/{name}", regional=False)
            return PhysicalResource(logical_id, kind, name, {"Arn": arn, "RoleId": name})
        if kind == "AWS::Logs::LogGroup":
            name = _literal_name(props, "LogGroupName", logical_id)
            return PhysicalResource(logical_id, kind, name, {"Arn": self._arn("logs", f"log-group:{name}:*")})
        name = f"{LOCAL_PREFIX}{logical_id}"
        service = kind.split("::")[1].lower() if kind.count("::") == 2 else "local"
        return PhysicalResource(logical_id, kind, name, {"Arn": self._arn(service, name)})

    # -- creation -----------------------------------------------------------------------------

    def create_all(self, resolver: Resolver) -> None:
        """Create every supported resource, in an order that satisfies their references."""
        pending = [
            resource
            for resource in self.template.resources.values()
            if resource.type in CREATORS and resolver.is_enabled(resource.condition)
        ]
        while pending:
            waiting: list[tuple[Resource, UnresolvedError]] = []
            for resource in pending:
                try:
                    props = resolver.resolve(resource.properties)
                except UnresolvedError as missing:
                    waiting.append((resource, missing))
                    continue
                physical = CREATORS[resource.type](self, resource.logical_id, props)
                physical.created = True
                self.physical[resource.logical_id] = physical
                log.debug("created %s %s -> %s", resource.type, resource.logical_id, physical.ref)
            if len(waiting) == len(pending):
                details = ", ".join(f"{res.logical_id} needs {missing}" for res, missing in waiting)
                raise TemplateError(f"circular or unsatisfiable references: {details}")
            pending = [resource for resource, _ in waiting]

    def _table(self, logical_id: str, props: dict[str, Any]) -> PhysicalResource:
        ddb = self.client("dynamodb")
        params = dict(props)
        name = _name(params, "TableName", logical_id)
        ttl = params.pop("TimeToLiveSpecification", None)
        params.pop("SSESpecification", None)  # encryption at rest is meaningless locally
        stream = params.get("StreamSpecification")
        if isinstance(stream, dict) and stream.get("StreamViewType"):
            params["StreamSpecification"] = {
                "StreamEnabled": True,
                "StreamViewType": stream["StreamViewType"],
            }
        if "BillingMode" not in params and "ProvisionedThroughput" not in params:
            params["BillingMode"] = "PAY_PER_REQUEST"
        params["TableName"] = name
        ddb.create_table(**_fit(ddb, "CreateTable", params, logical_id))
        if (
            isinstance(ttl, dict)
            and fit_to_shape(ttl.get("Enabled", False), _BOOL)
            and ttl.get("AttributeName")
        ):
            ddb.update_time_to_live(
                TableName=name,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": str(ttl["AttributeName"])},
            )
        table = ddb.describe_table(TableName=name)["Table"]
        attributes = {"Arn": table["TableArn"]}
        if table.get("LatestStreamArn"):
            attributes["StreamArn"] = table["LatestStreamArn"]
        return PhysicalResource(logical_id, "AWS::DynamoDB::Table", name, attributes)

    def _bucket(self, logical_id: str, props: dict[str, Any]) -> PhysicalResource:
        s3 = self.client("s3")
        name = _name(props, "BucketName", logical_id).lower()  # bucket names are lower case
        if self.pseudo.region == "us-east-1":
            s3.create_bucket(Bucket=name)
        else:
            s3.create_bucket(
                Bucket=name, CreateBucketConfiguration={"LocationConstraint": self.pseudo.region}
            )
        versioning = props.get("VersioningConfiguration")
        if isinstance(versioning, dict) and versioning.get("Status"):
            s3.put_bucket_versioning(
                Bucket=name, VersioningConfiguration={"Status": str(versioning["Status"])}
            )
        region = self.pseudo.region
        return PhysicalResource(
            logical_id,
            "AWS::S3::Bucket",
            name,
            {
                "Arn": f"arn:{self.pseudo.partition}:s3:::{name}",
                "DomainName": f"{name}.s3.amazonaws.com",
                "RegionalDomainName": f"{name}.s3.{region}.amazonaws.com",
                "DualStackDomainName": f"{name}.s3.dualstack.{region}.amazonaws.com",
                "WebsiteURL": f"http://{name}.s3-website-{region}.amazonaws.com",
            },
        )

    def _queue(self, logical_id: str, props: dict[str, Any]) -> PhysicalResource:
        sqs = self.client("sqs")
        params = dict(props)
        name = _name(params, "QueueName", logical_id)
        tags = params.pop("Tags", None) or []
        params.pop("QueueName", None)
        if fit_to_shape(params.get("FifoQueue", False), _BOOL) and not name.endswith(".fifo"):
            name += ".fifo"
        attributes = {key: fit_to_shape(value, _STRING) for key, value in params.items()}
        kwargs: dict[str, Any] = {"QueueName": name, "Attributes": attributes}
        if tags:
            kwargs["tags"] = {str(tag["Key"]): str(tag["Value"]) for tag in tags}
        url = sqs.create_queue(**kwargs)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        return PhysicalResource(
            logical_id, "AWS::SQS::Queue", url, {"Arn": arn, "QueueName": name, "QueueUrl": url}
        )

    def _user_pool(self, logical_id: str, props: dict[str, Any]) -> PhysicalResource:
        cognito = self.client("cognito-idp")
        params = dict(props)
        params["PoolName"] = _name(params, "UserPoolName", logical_id)
        params.pop("UserPoolName", None)
        params.pop("LambdaConfig", None)  # triggers are Lambda functions moto would not call
        pool = cognito.create_user_pool(**_fit(cognito, "CreateUserPool", params, logical_id))["UserPool"]
        pool_id = pool["Id"]
        provider = f"cognito-idp.{self.pseudo.region}.amazonaws.com/{pool_id}"
        return PhysicalResource(
            logical_id,
            "AWS::Cognito::UserPool",
            pool_id,
            {
                "Arn": pool.get("Arn") or self._arn("cognito-idp", f"userpool/{pool_id}"),
                "ProviderName": provider,
                "ProviderURL": f"https://{provider}",
                "UserPoolId": pool_id,
            },
        )

    def _user_pool_client(self, logical_id: str, props: dict[str, Any]) -> PhysicalResource:
        cognito = self.client("cognito-idp")
        params = dict(props)
        params["ClientName"] = _name(params, "ClientName", logical_id)
        params.setdefault("GenerateSecret", False)
        client = cognito.create_user_pool_client(**_fit(cognito, "CreateUserPoolClient", params, logical_id))[
            "UserPoolClient"
        ]
        return PhysicalResource(
            logical_id,
            "AWS::Cognito::UserPoolClient",
            client["ClientId"],
            {
                "ClientId": client["ClientId"],
                "Name": client["ClientName"],
                "ClientSecret": client.get("ClientSecret", ""),
            },
        )

    def _user_pool_group(self, logical_id: str, props: dict[str, Any]) -> PhysicalResource:
        cognito = self.client("cognito-idp")
        params = dict(props)
        params["GroupName"] = _name(params, "GroupName", logical_id)
        cognito.create_group(**_fit(cognito, "CreateGroup", params, logical_id))
        return PhysicalResource(logical_id, "AWS::Cognito::UserPoolGroup", params["GroupName"])

    def _ssm_parameter(self, logical_id: str, props: dict[str, Any]) -> PhysicalResource:
        ssm = self.client("ssm")
        params = dict(props)
        params["Name"] = _name(params, "Name", logical_id)
        params.setdefault("Type", "String")
        if isinstance(params.get("Tags"), dict):
            params["Tags"] = [{"Key": key, "Value": str(value)} for key, value in params["Tags"].items()]
        ssm.put_parameter(**_fit(ssm, "PutParameter", params, logical_id))
        return PhysicalResource(
            logical_id,
            "AWS::SSM::Parameter",
            params["Name"],
            {"Type": params["Type"], "Value": params.get("Value", "")},
        )

    def _ses_identity(self, logical_id: str, props: dict[str, Any]) -> PhysicalResource:
        """moto sends only from an identity it knows (and takes a new one as verified at once)."""
        ses = self.client("sesv2")
        ses.create_email_identity(**_fit(ses, "CreateEmailIdentity", props, logical_id))
        return PhysicalResource(logical_id, "AWS::SES::EmailIdentity", str(props["EmailIdentity"]))

    def _secret(self, logical_id: str, props: dict[str, Any]) -> PhysicalResource:
        manager = self.client("secretsmanager")
        params = dict(props)
        params["Name"] = _name(params, "Name", logical_id)
        generate = params.pop("GenerateSecretString", None)
        if "SecretString" not in params:
            params["SecretString"] = _generate_secret(generate if isinstance(generate, dict) else {})
        created = manager.create_secret(**_fit(manager, "CreateSecret", params, logical_id))
        return PhysicalResource(
            logical_id, "AWS::SecretsManager::Secret", created["ARN"], {"Id": created["ARN"]}
        )


def _literal_name(props: Mapping[str, Any], key: str, logical_id: str) -> str:
    value = props.get(key)
    return value if isinstance(value, str) and value else f"{LOCAL_PREFIX}{logical_id}"


def local_api_id(logical_id: str) -> str:
    """A stable, API-Gateway-looking id (10 lower-case alphanumerics) for an HTTP API."""
    digest = "".join(ch for ch in logical_id.lower() if ch.isalnum())
    return (digest + "local00000")[:10]


def _generate_secret(spec: Mapping[str, Any]) -> str:
    length = int(spec.get("PasswordLength", 32))
    excluded = set(str(spec.get("ExcludeCharacters", "")))
    alphabet = [ch for ch in string.ascii_letters + string.digits if ch not in excluded]
    password = "".join(secrets.choice(alphabet) for _ in range(length))
    template_text, key = spec.get("SecretStringTemplate"), spec.get("GenerateStringKey")
    if template_text and key:
        document = json.loads(str(template_text))
        document[str(key)] = password
        return json.dumps(document)
    return password


_BOOL = Shape("Bool", {"type": "boolean"})
_STRING = Shape("String", {"type": "string"})

CREATORS: dict[str, Callable[[ResourceRegistry, str, dict[str, Any]], PhysicalResource]] = {
    "AWS::DynamoDB::Table": ResourceRegistry._table,
    "AWS::S3::Bucket": ResourceRegistry._bucket,
    "AWS::SQS::Queue": ResourceRegistry._queue,
    "AWS::Cognito::UserPool": ResourceRegistry._user_pool,
    "AWS::Cognito::UserPoolClient": ResourceRegistry._user_pool_client,
    "AWS::Cognito::UserPoolGroup": ResourceRegistry._user_pool_group,
    "AWS::SSM::Parameter": ResourceRegistry._ssm_parameter,
    "AWS::SecretsManager::Secret": ResourceRegistry._secret,
    "AWS::SES::EmailIdentity": ResourceRegistry._ses_identity,
}
