"""Template URLs on a loopback host are path-style S3 URLs."""

from __future__ import annotations

import ipaddress
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


def apply() -> None:
    """Every caller of moto's ``get_stack_from_s3_url`` reads through :func:`stack_from_s3_url`."""
    cfn_utils.get_stack_from_s3_url = stack_from_s3_url
    cfn_models.get_stack_from_s3_url = stack_from_s3_url
    cfn_responses.get_stack_from_s3_url = stack_from_s3_url
