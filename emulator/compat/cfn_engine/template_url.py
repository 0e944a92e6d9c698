"""Reading templates: URLs on a loopback host are path-style S3 URLs, and a JSON body is parsed as
JSON (moto reads every body with PyYAML's pure-Python loader first: 0.27 s of CPU for the real
app's 124 KiB template against 2 ms, and a deploy parses it about four times)."""

from __future__ import annotations

import ipaddress
import json
from typing import Any
from urllib.parse import urlparse

from moto.cloudformation import models as cfn_models
from moto.cloudformation import responses as cfn_responses
from moto.cloudformation import utils as cfn_utils
from moto.s3.models import s3_backends


def is_loopback(host: str) -> bool:
    """True for ``localhost``, 127.0.0.0/8 and ::1."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


_original_stack_from_s3_url = cfn_utils.get_stack_from_s3_url


def stack_from_s3_url(template_url: str, account_id: str, partition: str) -> str:
    """Read a template from moto's S3; a loopback URL is path-style (``http://127.0.0.1:P/bucket/key``).

    moto only treats ``localhost`` as path-style, so the CDK CLI's
    ``http://127.0.0.1:PORT/bucket/key`` was read as bucket ``127``.
    """
    url = urlparse(template_url)
    if not is_loopback(url.hostname or ""):
        return _original_stack_from_s3_url(template_url, account_id, partition)
    bucket, key = url.path.lstrip("/").split("/", 1)
    obj = s3_backends[account_id][partition].get_object(bucket, key)
    return obj.value.decode("utf-8")  # type: ignore[union-attr]


_original_parse_template = cfn_models.Stack.parse_template


def parse_template(template: str) -> dict[str, Any]:
    """A JSON template with the standard library's parser (JSON is YAML, so the result is the same
    mapping); anything else as moto reads it (YAML with CloudFormation's short-form tags)."""
    if template.lstrip().startswith("{"):
        try:
            parsed = json.loads(template)
        except ValueError:
            pass
        else:
            if isinstance(parsed, dict):
                return parsed
    return _original_parse_template(template)  # type: ignore[no-any-return]


def _parse_change_set_template(self: cfn_models.ChangeSet) -> None:
    self.template_dict = parse_template(self.template)


def apply() -> None:
    """Every caller of moto's ``get_stack_from_s3_url`` reads through :func:`stack_from_s3_url`;
    stacks and change sets parse their bodies with :func:`parse_template`."""
    cfn_models.Stack.parse_template = staticmethod(parse_template)  # type: ignore[method-assign,assignment]
    cfn_models.ChangeSet._parse_template = _parse_change_set_template  # type: ignore[method-assign]
    cfn_utils.get_stack_from_s3_url = stack_from_s3_url
    cfn_models.get_stack_from_s3_url = stack_from_s3_url
    cfn_responses.get_stack_from_s3_url = stack_from_s3_url
