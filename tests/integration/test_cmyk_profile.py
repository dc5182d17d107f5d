"""CMYK_PROFILE=s3://bucket/key: the operator's CMYK profile read from S3 through the store, once, at first need."""

from __future__ import annotations

import dataclasses
import uuid

import pytest

from pipeline import wiring
from pipeline.errors import ConfigurationError
from tests.conftest import StackFixture
from tests.crafted import cmyk_profile


def _loader(session_stack: StackFixture, where: str) -> wiring.ProfileLoader:
    settings, clients, _ = session_stack
    settings = dataclasses.replace(settings, imaging=dataclasses.replace(settings.imaging, cmyk_profile=where))
    return wiring.cmyk_profile(settings, clients)


def test_an_s3_profile_is_read_once_at_first_need(session_stack: StackFixture) -> None:
    settings, clients, _ = session_stack
    key = f"config/{uuid.uuid4().hex}/press.icc"
    clients.s3.put_object(Bucket=settings.names.output_bucket, Key=key, Body=cmyk_profile())
    load = _loader(session_stack, f"s3://{settings.names.output_bucket}/{key}")
    assert load() == cmyk_profile()
    clients.s3.delete_object(Bucket=settings.names.output_bucket, Key=key)
    assert load() == cmyk_profile()


def test_a_missing_s3_profile_is_a_configuration_error(session_stack: StackFixture) -> None:
    settings, _, _ = session_stack
    where = f"s3://{settings.names.output_bucket}/config/none-{uuid.uuid4().hex}.icc"
    with pytest.raises(ConfigurationError, match=f"CMYK_PROFILE={where} cannot be read"):
        _loader(session_stack, where)()
