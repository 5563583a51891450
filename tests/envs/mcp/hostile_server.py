"""A small MCP server over stdio that misbehaves on request (for the failure tests).

Plain JSON-RPC, no mcp import, so it starts in milliseconds. ``python hostile_server.py
MODE``: ``ok`` serves; ``exit`` exits at once; ``hang`` never answers; ``garbage`` answers
the first message with a line that is not JSON-RPC; ``flood`` with 8 MB and no newline;
``spawn`` starts a grandchild (its pid written to the file ``$HOSTILE_PID_FILE``), then
serves; ``weird_tools`` lists tools with bad names and a huge description;
``bad_schemas`` lists input schemas with malformed parts (``"required": null``,
``"properties": null``); ``duplicates`` lists ``echo`` on each of two pages; ``bad_listing`` lists
a tool without a name (mcp's types reject the listing); ``redos`` gives ``echo`` an
``outputSchema`` whose pattern backtracks exponentially on the structured content it
returns, ``expo`` one of 2**26 ``anyOf`` branches (jsonschema would take minutes on
either). Its tools
misbehave by name: ``hang``, ``crash``, ``garbage``, ``flood`` as above, mid-session;
``big`` returns 100,000 characters; ``fail`` is an ``isError`` result; ``reject`` a
JSON-RPC error; ``invalid`` a result that is not a ``CallToolResult``; ``echo`` returns
its text.
"""

import json
import os
import subprocess
import sys
import time
from typing import Any

TOOLS: list[dict[str, Any]] = [
    {
        "name": "echo",
        "description": "Return the text.",
        "inputSchema": {
            "type": "object",
            "properties": {"text": {"type": "string"}},
            "required": ["text"],
        },
    },
    *(
        {"name": name, "description": f"Misbehave: {name}.", "inputSchema": {"type": "object"}}
        for name in ("hang", "crash", "garbage", "flood", "big", "fail", "reject", "invalid")
    ),
]

#: Tools no client should take as they are: names past MCP's rule, 100,000 characters of
#: description.
WEIRD_TOOLS: list[dict[str, Any]] = [
    {"name": "n" * 1000, "description": "too long a name", "inputSchema": {"type": "object"}},
    {"name": "bad name!", "description": "a space", "inputSchema": {"type": "object"}},
    {"name": "odd", "description": "d" * 100_000, "inputSchema": {"type": "object"}},
]


#: Tools whose input schemas have parts of the wrong type that mcp's types let through
#: (each name says which; a ``required`` of 5 or a list of ``properties`` fails the whole
#: listing in mcp, and is held off by the action parser's own tests).
BAD_SCHEMAS: list[dict[str, Any]] = [
    {"name": name, "inputSchema": {"type": "object", **part}}
    for name, part in (
        ("required_null", {"properties": {"text": {"type": "string"}}, "required": None}),
        ("properties_null", {"properties": None, "required": ["text"]}),
        ("additional_junk", {"properties": {"text": {}}, "additionalProperties": "no"}),
    )
]


def output_schema(mode: str) -> dict[str, Any]:
    """``echo``'s output schema in the ``redos`` and ``expo`` modes."""
    if mode == "redos":
        return {"type": "object", "properties": {"s": {"type": "string", "pattern": "^(a+)+$"}}}
    depth = 26
    defs: dict[str, Any] = {
        f"d{i}": {"anyOf": [{"$ref": f"#/$defs/d{i + 1}"}] * 2} for i in range(depth)
    }
    defs[f"d{depth}"] = {"type": "string", "minLength": 5}
    return {"type": "object", "$defs": defs, "properties": {"s": {"$ref": "#/$defs/d0"}}}


def listing(mode: str, cursor: object) -> dict[str, Any]:
    """The ``tools/list`` result of ``mode`` for the page at ``cursor``."""
    if mode == "weird_tools":
        return {"tools": WEIRD_TOOLS}
    if mode == "bad_schemas":
        return {"tools": BAD_SCHEMAS}
    if mode == "duplicates":
        return {"tools": TOOLS[:2], "nextCursor": "2"} if cursor is None else {"tools": TOOLS}
    if mode == "bad_listing":
        return {"tools": [{"description": "no name", "inputSchema": {"type": "object"}}]}
    if mode in ("redos", "expo"):
        return {"tools": [{**TOOLS[0], "outputSchema": output_schema(mode)}]}
    return {"tools": TOOLS}


MODE = sys.argv[1] if len(sys.argv) > 1 else "ok"


def send(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def misbehave(how: str) -> None:
    if how == "hang":
        time.sleep(3600)
    if how == "crash":
        os._exit(1)
    if how == "garbage":
        sys.stdout.write("Traceback (most recent call last): this is not JSON-RPC\n")
    if how == "flood":
        sys.stdout.write("x" * (8 << 20))
    sys.stdout.flush()


def answer(request: dict[str, Any]) -> None:
    method, rid = request.get("method"), request["id"]
    params = request.get("params") or {}
    result: dict[str, Any]
    if method == "initialize":
        result = {
            "protocolVersion": params.get("protocolVersion"),
            "capabilities": {"tools": {}},
            "serverInfo": {"name": "hostile", "version": "0"},
        }
    elif method == "tools/list":
        result = listing(MODE, params.get("cursor"))
    elif method == "ping":
        result = {}
    elif method == "tools/call":
        name, arguments = str(params.get("name")), params.get("arguments") or {}
        if name in ("hang", "crash", "garbage", "flood"):
            misbehave(name)
            time.sleep(3600)
        if name == "reject":
            send({"jsonrpc": "2.0", "id": rid, "error": {"code": -32602, "message": "no, thanks"}})
            return
        if name == "invalid":  # JSON-RPC, but no CallToolResult
            send({"jsonrpc": "2.0", "id": rid, "result": {"content": "not a list"}})
            return
        text = {"echo": str(arguments.get("text")), "big": "y" * 100_000, "fail": "it broke"}
        if MODE == "bad_schemas":  # its tools return their arguments
            text[name] = json.dumps(arguments, sort_keys=True)
        if name not in text:
            send({"jsonrpc": "2.0", "id": rid, "error": {"code": -32602, "message": "unknown"}})
            return
        content = [{"type": "text", "text": text[name]}]
        result = {"content": content, "isError": name == "fail"}
        if MODE in ("redos", "expo"):  # what the schema's check would choke on
            result["structuredContent"] = {"s": "a" * 40 + "!" if MODE == "redos" else "a"}
    else:
        send({"jsonrpc": "2.0", "id": rid, "error": {"code": -32601, "message": "no method"}})
        return
    send({"jsonrpc": "2.0", "id": rid, "result": result})


def main() -> None:
    mode = MODE
    if mode == "exit":
        sys.exit(3)
    if mode == "spawn":
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(3600)"])
        with open(os.environ["HOSTILE_PID_FILE"], "w") as file:
            file.write(str(child.pid))
    for line in sys.stdin:
        if mode == "hang":
            continue
        if mode in ("garbage", "flood"):
            misbehave(mode)
            time.sleep(3600)
        request = json.loads(line)
        if "id" in request and "method" in request:
            answer(request)


if __name__ == "__main__":
    main()
