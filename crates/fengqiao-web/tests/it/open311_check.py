# Validates Open311 responses collected by the Rust tests: each JSON document against the
# published GeoReport v2 JSON Schemas, and its XML twin for the same tree.
# Usage: python open311_check.py SCHEMA_DIR CASES.json ; prints problems, exits 1 if any.
import json
import pathlib
import sys

import xmltodict
from jsonschema import Draft7Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

schema_dir = pathlib.Path(sys.argv[1])
schemas = {p.name: json.loads(p.read_text()) for p in schema_dir.glob("*.json")}
registry = Registry().with_resources(
    (name, Resource.from_contents(s, default_specification=DRAFT7)) for name, s in schemas.items()
)

SINGULAR = {
    "services": "service", "attributes": "attribute", "values": "value", "endpoints": "endpoint",
    "formats": "format", "notes": "note", "errors": "error", "service_requests": "request",
    "service_request_updates": "request_update",
}


def xmlish(v, name):
    """The JSON value as xmltodict reads our XML back."""
    if v is None:
        return None
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return json.dumps(v)
    if isinstance(v, str):
        return v if v != "" else None
    if isinstance(v, list):
        item = SINGULAR.get(name, "value")
        items = [xmlish(i, item) for i in v]
        if not items:
            return None
        return {item: items[0] if len(items) == 1 else items}
    return {k: xmlish(x, k) for k, x in v.items()} or None


problems = []
cases = json.loads(pathlib.Path(sys.argv[2]).read_text())
for i, c in enumerate(cases):
    where = f"#{i} {c['what']}"
    if c.get("schema"):
        v = Draft7Validator(schemas[c["schema"]], registry=registry, format_checker=Draft7Validator.FORMAT_CHECKER)
        for e in v.iter_errors(c["json"]):
            problems.append(f"{where}: {c['schema']}: {e.message} at {list(e.absolute_path)}")
    if c.get("xml") is not None:
        if not c["xml"].startswith('<?xml version="1.0" encoding="utf-8"?>'):
            problems.append(f"{where}: the XML lacks its declaration")
        got = xmltodict.parse(c["xml"])
        want = {c["root"]: xmlish(c["json"], c["root"])}
        if got != want:
            problems.append(f"{where}: XML and JSON differ:\n  xml  {json.dumps(got, ensure_ascii=False)}\n  json {json.dumps(want, ensure_ascii=False)}")

print(f"checked {len(cases)} responses")
for p in problems:
    print(p)
sys.exit(1 if problems else 0)
