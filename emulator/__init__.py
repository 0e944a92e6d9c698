"""Loopback AWS emulator for ``make local``: moto 5.2.5 plus a compatibility layer.

The package is kept apart from the product code (``ecs_playground``): it only
runs the real CDK CLI against moto in server mode on 127.0.0.1.
"""

MOTO_VERSION = "5.2.5"
ACCOUNT_ID = "123456789012"
REGION = "us-east-1"
