"""The checked-in AsyncAPI documents must equal what the services generate now.

Regenerate them with `make asyncapi` after changing a contract or a subscriber, and review the diff.
"""

import importlib
import json
from pathlib import Path

import pytest

SERVICES = ["identity", "certificate", "review", "qualification", "exam", "order"]
DOCUMENTS = Path(__file__).resolve().parents[1] / "contracts" / "asyncapi"


@pytest.mark.parametrize("service", SERVICES)
def test_asyncapi_document_is_current(service):
    module = importlib.import_module(f"{service}_svc.asyncapi")
    generated = json.loads(json.dumps(module.app.schema.to_specification().to_jsonable()))
    path = DOCUMENTS / f"{service}-svc.json"

    assert path.exists(), f"{path} is missing: run `make asyncapi`"
    assert generated == json.loads(path.read_text()), f"{path} is out of date: run `make asyncapi` and commit it"
