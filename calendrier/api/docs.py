"""A page to read the OpenAPI document: rendered here, no script, nothing from a CDN."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template

from .common import choose_language

bp = Blueprint("api_docs", __name__, template_folder="templates")
bp.before_request(choose_language)

METHODS = ("get", "post", "put", "patch", "delete")


def _spec() -> dict:
    return current_app.extensions["flask-smorest"]["apis"][""]["ext_obj"].spec.to_dict()


def _ref_name(ref: str) -> str:
    return ref.rsplit("/", 1)[-1]


def type_of(schema: dict) -> dict:
    """A schema's type in a few words, with the component it names (for a link)."""
    if "$ref" in schema:
        return {"text": _ref_name(schema["$ref"]), "ref": _ref_name(schema["$ref"])}
    if schema.get("type") == "array":
        inner = type_of(schema.get("items", {}))
        return {"text": f"array of {inner['text']}", "ref": inner.get("ref")}
    text = schema.get("type", "any")
    if schema.get("format"):
        text += f" ({schema['format']})"
    if schema.get("nullable"):
        text += ", or null"
    return {"text": text}


def constraints(schema: dict) -> list[str]:
    said = []
    if "enum" in schema:
        said.append("one of " + ", ".join(f"`{v}`" for v in schema["enum"]))
    for key, words in (
        ("minimum", "at least"),
        ("maximum", "at most"),
        ("minLength", "at least {} characters"),
        ("maxLength", "at most {} characters"),
    ):
        if key in schema:
            said.append(words.format(schema[key]) if "{}" in words else f"{words} {schema[key]}")
    if "default" in schema:
        said.append(f"default `{schema['default']}`")
    return said


def fields(schema: dict, components: dict) -> list[dict]:
    if "$ref" in schema:
        schema = components.get(_ref_name(schema["$ref"]), {})
    required = set(schema.get("required", []))
    return [
        {
            "name": name,
            "type": type_of(prop),
            "required": name in required,
            "description": prop.get("description", ""),
            "constraints": constraints(prop),
        }
        for name, prop in schema.get("properties", {}).items()
    ]


def operations(spec: dict) -> list[dict]:
    components = spec.get("components", {}).get("schemas", {})
    found = []
    for path, item in spec.get("paths", {}).items():
        shared = item.get("parameters", [])
        for method in METHODS:
            if method not in item:
                continue
            op = item[method]
            parameters = []
            for param in shared + op.get("parameters", []):
                parameters.append(
                    {
                        "name": param["name"],
                        "in": param["in"],
                        "required": param.get("required", False),
                        "type": type_of(param.get("schema", {})),
                        "description": param.get("description", ""),
                        "constraints": constraints(param.get("schema", {})),
                    }
                )
            body = op.get("requestBody", {}).get("content", {}).get("application/json")
            responses = []
            for status, response in op.get("responses", {}).items():
                content = response.get("content", {}).get("application/json", {})
                responses.append(
                    {
                        "status": status,
                        "description": response.get("description", ""),
                        "type": type_of(content["schema"]) if "schema" in content else None,
                    }
                )
            found.append(
                {
                    "id": f"{method}-{path}".replace("/", "-").replace("{", "").replace("}", ""),
                    "method": method.upper(),
                    "path": path,
                    "tag": (op.get("tags") or [""])[0],
                    "summary": op.get("summary", ""),
                    "description": op.get("description", ""),
                    "secured": bool(op.get("security")),
                    "parameters": parameters,
                    "body": fields(body["schema"], components) if body else None,
                    "body_required": op.get("requestBody", {}).get("required", False),
                    "responses": responses,
                }
            )
    return found


@bp.route("/docs")
def page():
    spec = _spec()
    components = spec.get("components", {}).get("schemas", {})
    tags = spec.get("tags", [])
    ops = operations(spec)
    return render_template(
        "api/docs.html",
        spec=spec,
        tags=[{**tag, "operations": [o for o in ops if o["tag"] == tag["name"]]} for tag in tags],
        schemas={name: fields(schema, components) for name, schema in components.items()},
    )
