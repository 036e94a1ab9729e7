"""A small renderer for the subset of Go templates (and Helm/Sprig functions) that the
marty-service chart uses, so that the chart can be rendered and checked where the `helm`
binary is not installed (Debian 12 does not package it).

What it supports: text and actions with the `{{-` / `-}}` trim markers, comments, pipelines
with `|`, parenthesised sub-pipelines, field chains (`.Values.a.b`, `$.Values.a`, `.`),
string/number/bool/nil literals, variables declared with `:=`, `if` / `else if` / `else`,
`with` / `else`, `range` (over lists and maps, with `$i, $v :=`), `define`, `template`, and
the functions include, toYaml, nindent, indent, quote, squote, default, required, trunc,
trimSuffix, trimPrefix, trim, printf, upper, lower, replace, toString, int, eq, ne, lt, le,
gt, ge, not, and, or, empty, hasKey. Anything else is an error (a TemplateError naming it),
never a silent difference from Helm: the chart must stay within this subset, or the test
fails and says so.

Values follow Helm's rules where they matter here: a missing map key is nil and prints as
the empty string; reading a field of nil is an error (as in Go); toYaml sorts map keys and
drops the trailing newline; values are merged as Helm merges `-f` files (maps deeply, other
values replaced, null deletes a key).
"""

import copy
import re

import yaml


class TemplateError(Exception):
    pass


# ---- Lexing -----------------------------------------------------------------------------

_ACTION = re.compile(r"\{\{(-[ \t\r\n])?(.*?)([ \t\r\n]-)?\}\}", re.S)


def _lex(source, name):
    """[(kind, value)] with kind 'text' or 'action'; trim markers applied."""
    items = []
    position = 0
    trim_next = False
    for match in _ACTION.finditer(source):
        text = source[position:match.start()]
        if trim_next:
            text = text.lstrip(" \t\r\n")
        if match.group(1):
            text = text.rstrip(" \t\r\n")
        if text:
            items.append(("text", text))
        body = match.group(2).strip()
        if not (body.startswith("/*") and body.endswith("*/")):
            if "/*" in body:
                raise TemplateError(f"{name}: malformed comment {{{{{body}}}}}")
            items.append(("action", body))
        trim_next = bool(match.group(3))
        position = match.end()
    text = source[position:]
    if trim_next:
        text = text.lstrip(" \t\r\n")
    if "{{" in text:
        raise TemplateError(f"{name}: unclosed action near {text[text.index('{{'):][:40]!r}")
    if text:
        items.append(("text", text))
    return items


_TOKEN = re.compile(r"""
    (?P<space>\s+)
  | (?P<string>"(?:[^"\\]|\\.)*")
  | (?P<raw>`[^`]*`)
  | (?P<number>-?\d+(?:\.\d+)?)
  | (?P<declare>:=)
  | (?P<assign>=)
  | (?P<pipe>\|)
  | (?P<lparen>\()
  | (?P<rparen>\))
  | (?P<comma>,)
  | (?P<variable>\$[A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)
  | (?P<field>(?:\.[A-Za-z_][A-Za-z0-9_]*)+|\.)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
""", re.X)


def _tokens(text, where):
    tokens = []
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if not match:
            raise TemplateError(f"{where}: cannot read {text[position:]!r}")
        kind = match.lastgroup
        if kind != "space":
            tokens.append((kind, match.group()))
        position = match.end()
    return tokens


# ---- Parsing ----------------------------------------------------------------------------

class _Parser:
    """Turns a token list of one action into a pipeline: (declared_vars, [commands]);
    a command is [operands]; an operand is (kind, value) or ('pipeline', pipeline)."""

    def __init__(self, tokens, where):
        self.tokens = tokens
        self.position = 0
        self.where = where

    def peek(self):
        return self.tokens[self.position] if self.position < len(self.tokens) else (None, None)

    def take(self):
        token = self.peek()
        self.position += 1
        return token

    def pipeline(self, top=True):
        declared = []
        # `$a := ...` or `$i, $v := ...`
        save = self.position
        names = []
        while self.peek()[0] == "variable":
            names.append(self.take()[1])
            if self.peek()[0] == "comma":
                self.take()
                continue
            break
        if names and self.peek()[0] in ("declare", "assign"):
            self.take()
            declared = names
        else:
            self.position = save
        commands = [self.command()]
        while self.peek()[0] == "pipe":
            self.take()
            commands.append(self.command())
        if top and self.position != len(self.tokens):
            raise TemplateError(f"{self.where}: unexpected {self.peek()[1]!r}")
        return declared, commands

    def command(self):
        operands = []
        while True:
            kind, value = self.peek()
            if kind in (None, "pipe", "rparen"):
                break
            self.take()
            if kind == "lparen":
                operands.append(("pipeline", self.pipeline(top=False)))
                if self.take()[0] != "rparen":
                    raise TemplateError(f"{self.where}: missing )")
            elif kind in ("string", "raw", "number", "variable", "field", "ident"):
                operands.append((kind, value))
            else:
                raise TemplateError(f"{self.where}: unexpected {value!r}")
        if not operands:
            raise TemplateError(f"{self.where}: empty command")
        return operands


def _parse_pipeline(text, where):
    return _Parser(_tokens(text, where), where).pipeline()


def _parse(items, name):
    """Returns (body, defines): body is a list of nodes."""
    defines = {}
    position = 0

    def block(terminators):
        nonlocal position
        nodes = []
        while position < len(items):
            kind, value = items[position]
            position += 1
            if kind == "text":
                nodes.append(("text", value))
                continue
            keyword = value.split(None, 1)[0] if value else ""
            rest = value[len(keyword):].strip()
            if keyword in terminators:
                return nodes, keyword, rest
            if keyword in ("if", "with", "range"):
                branches = []
                condition = _parse_pipeline(rest, f"{name}: {keyword}")
                body, end, end_rest = block(("else", "end"))
                branches.append((condition, body))
                else_body = []
                while end == "else":
                    if keyword == "if" and end_rest.startswith("if "):
                        condition = _parse_pipeline(end_rest[3:], f"{name}: else if")
                        body, end, end_rest = block(("else", "end"))
                        branches.append((condition, body))
                    else:
                        else_body, end, end_rest = block(("end",))
                if end != "end":
                    raise TemplateError(f"{name}: {keyword} without end")
                nodes.append((keyword, branches, else_body))
            elif keyword == "define":
                define_name = _literal_string(rest, name)
                body, end, _ = block(("end",))
                if end != "end":
                    raise TemplateError(f"{name}: define without end")
                defines[define_name] = body
            elif keyword == "template":
                nodes.append(("action", _parse_pipeline("include " + rest, f"{name}: template")))
            elif keyword in ("block", "break", "continue"):
                raise TemplateError(f"{name}: '{keyword}' is outside the supported subset")
            else:
                nodes.append(("action", _parse_pipeline(value, f"{name}: {{{{{value}}}}}")))
        if terminators:
            raise TemplateError(f"{name}: missing {{{{end}}}}")
        return nodes, None, None

    body, _, _ = block(())
    return body, defines


def _literal_string(text, where):
    tokens = _tokens(text, where)
    if len(tokens) != 1 or tokens[0][0] not in ("string", "raw"):
        raise TemplateError(f"{where}: expected a string, got {text!r}")
    return _unquote(tokens[0][1])


def _unquote(token):
    if token.startswith("`"):
        return token[1:-1]
    return bytes(token[1:-1], "utf-8").decode("unicode_escape")


# ---- Values -----------------------------------------------------------------------------

def _truthy(value):
    return not (value is None or value is False or value == 0 and not isinstance(value, bool)
                or (isinstance(value, (str, list, dict, tuple)) and len(value) == 0))


def _go_string(value):
    """How Go's fmt prints a value in a template."""
    if value is None:
        return ""  # Helm replaces "<no value>" by ""
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e21:
            return str(int(value)) if abs(value) < 1e6 else ("%g" % value).replace("e+0", "e+")
        return repr(value)
    if isinstance(value, (dict, list)):
        raise TemplateError(f"printing a {type(value).__name__} directly is not supported: use toYaml")
    return str(value)


def _to_yaml(value):
    if value is None:
        return "null"
    return yaml.safe_dump(value, default_flow_style=False, sort_keys=True).rstrip("\n")


def _go_quote(text):
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t") + '"'


def _printf(form, *args):
    out = []
    index = 0
    position = 0
    while position < len(form):
        char = form[position]
        if char != "%":
            out.append(char)
            position += 1
            continue
        verb = form[position + 1]
        position += 2
        if verb == "%":
            out.append("%")
            continue
        if index >= len(args):
            raise TemplateError(f"printf {form!r}: missing argument")
        arg = args[index]
        index += 1
        if verb in ("s", "v"):
            out.append(_go_string(arg))
        elif verb == "d":
            out.append(str(int(arg)))
        elif verb == "q":
            out.append(_go_quote(_go_string(arg)))
        else:
            raise TemplateError(f"printf verb %{verb} is outside the supported subset")
    return "".join(out)


def _indent(count, text):
    pad = " " * int(count)
    return "\n".join(pad + line for line in _go_string(text).split("\n"))


def _default(default, *given):
    value = given[0] if given else None
    return value if _truthy(value) else default


def _required(message, value):
    if value is None or value == "":
        raise TemplateError(f"required: {message}")
    return value


def _trunc(count, text):
    text = _go_string(text)
    count = int(count)
    return text[:count] if count >= 0 else text[count:]


FUNCTIONS = {
    "toYaml": _to_yaml,
    "nindent": lambda n, s: "\n" + _indent(n, s),
    "indent": _indent,
    "quote": lambda *a: " ".join(_go_quote(_go_string(x)) for x in a if x is not None),
    "squote": lambda *a: " ".join("'" + _go_string(x) + "'" for x in a if x is not None),
    "default": _default,
    "required": _required,
    "trunc": _trunc,
    "trimSuffix": lambda suffix, s: s[: -len(suffix)] if suffix and s.endswith(suffix) else s,
    "trimPrefix": lambda prefix, s: s[len(prefix):] if prefix and s.startswith(prefix) else s,
    "trim": lambda s: _go_string(s).strip(),
    "printf": _printf,
    "upper": lambda s: _go_string(s).upper(),
    "lower": lambda s: _go_string(s).lower(),
    "replace": lambda old, new, s: _go_string(s).replace(old, new),
    "toString": _go_string,
    "int": lambda x: int(float(x)) if x not in (None, "") else 0,
    "eq": lambda a, *b: any(a == x for x in b),
    "ne": lambda a, b: a != b,
    "lt": lambda a, b: a < b,
    "le": lambda a, b: a <= b,
    "gt": lambda a, b: a > b,
    "ge": lambda a, b: a >= b,
    "not": lambda x: not _truthy(x),
    "empty": lambda x: not _truthy(x),
    "hasKey": lambda d, k: isinstance(d, dict) and k in d,
}


class _Scope:
    def __init__(self, root):
        self.variables = [{"$": root}]

    def push(self):
        self.variables.append({})

    def pop(self):
        self.variables.pop()

    def set(self, name, value):
        self.variables[-1][name] = value

    def get(self, name, where):
        for frame in reversed(self.variables):
            if name in frame:
                return frame[name]
        raise TemplateError(f"{where}: undefined variable {name}")


def _field(value, path, where):
    for part in path:
        if value is None:
            raise TemplateError(f"{where}: nil pointer evaluating .{part}")
        if not isinstance(value, dict):
            raise TemplateError(f"{where}: can't evaluate field {part} in {type(value).__name__}")
        value = value.get(part)
    return value


class Template:
    """A chart's templates: render(name, context) for one template file."""

    def __init__(self, sources):
        """sources: {file name: text}; files whose name starts with '_' only define."""
        self.trees = {}
        self.defines = {}
        for name, text in sources.items():
            body, defines = _parse(_lex(text, name), name)
            self.trees[name] = body
            self.defines.update(defines)

    def render(self, name, context):
        scope = _Scope(context)
        return self._render(self.trees[name], context, scope, name)

    def _render(self, nodes, dot, scope, where):
        out = []
        for node in nodes:
            kind = node[0]
            if kind == "text":
                out.append(node[1])
            elif kind == "action":
                declared, commands = node[1]
                value = self._pipeline(commands, dot, scope, where)
                if declared:
                    scope.set(declared[0], value)
                else:
                    out.append(_go_string(value))
            elif kind in ("if", "with"):
                branches, else_body = node[1], node[2]
                for (declared, commands), body in branches:
                    value = self._pipeline(commands, dot, scope, where)
                    if _truthy(value):
                        scope.push()
                        if declared:
                            scope.set(declared[0], value)
                        out.append(self._render(body, value if kind == "with" else dot, scope, where))
                        scope.pop()
                        break
                else:
                    out.append(self._render(else_body, dot, scope, where))
            elif kind == "range":
                ((declared, commands), body), = node[1]
                value = self._pipeline(commands, dot, scope, where)
                if not _truthy(value):
                    out.append(self._render(node[2], dot, scope, where))
                    continue
                pairs = sorted(value.items()) if isinstance(value, dict) else list(enumerate(value))
                for key, element in pairs:
                    scope.push()
                    if len(declared) == 2:
                        scope.set(declared[0], key)
                        scope.set(declared[1], element)
                    elif len(declared) == 1:
                        scope.set(declared[0], element)
                    out.append(self._render(body, element, scope, where))
                    scope.pop()
        return "".join(out)

    def _pipeline(self, commands, dot, scope, where):
        value = _NOTHING
        for command in commands:
            value = self._command(command, dot, scope, where, value)
        return value

    def _operand(self, operand, dot, scope, where):
        kind, value = operand
        if kind == "pipeline":
            return self._pipeline(value[1], dot, scope, where)
        if kind in ("string", "raw"):
            return _unquote(value)
        if kind == "number":
            return float(value) if "." in value else int(value)
        if kind == "field":
            return dot if value == "." else _field(dot, value[1:].split("."), where)
        if kind == "variable":
            head, *path = value.split(".")
            return _field(scope.get(head, where), path, where)
        if kind == "ident":
            if value in ("true", "false"):
                return value == "true"
            if value == "nil":
                return None
            return _FunctionName(value)
        raise TemplateError(f"{where}: unexpected operand {value!r}")

    def _command(self, command, dot, scope, where, piped):
        first = self._operand(command[0], dot, scope, where)
        if isinstance(first, _FunctionName):
            args = [self._operand(o, dot, scope, where) for o in command[1:]]
            if piped is not _NOTHING:
                args.append(piped)
            return self._call(first.name, args, scope, where)
        if len(command) > 1 or piped is not _NOTHING:
            raise TemplateError(f"{where}: {command[0][1]!r} is not a function")
        return first

    def _call(self, name, args, scope, where):
        if name == "include":
            if len(args) != 2:
                raise TemplateError(f"{where}: include takes a name and a context")
            if args[0] not in self.defines:
                raise TemplateError(f"{where}: no template named {args[0]!r}")
            inner = _Scope(args[1])  # in a called template, $ is the data passed to it
            return self._render(self.defines[args[0]], args[1], inner, f"{where} > {args[0]}")
        function = FUNCTIONS.get(name)
        if function is None:
            raise TemplateError(f"{where}: function {name!r} is outside the supported subset")
        try:
            return function(*args)
        except TemplateError:
            raise
        except Exception as error:  # a wrong argument count or type: say where
            raise TemplateError(f"{where}: {name}{tuple(args)!r}: {error}") from error


class _FunctionName:
    def __init__(self, name):
        self.name = name


_NOTHING = object()


# ---- Charts -----------------------------------------------------------------------------

def merge_values(base, override):
    """Helm's merge of a values file over the chart's values."""
    result = copy.deepcopy(base)
    for key, value in (override or {}).items():
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = merge_values(result[key], value)
        else:
            result[key] = copy.deepcopy(value)
    return result


def set_value(values, dotted, value):
    """`--set a.b=value` (value already typed)."""
    keys = dotted.split(".")
    node = values
    for key in keys[:-1]:
        node = node.setdefault(key, {})
    node[keys[-1]] = value
    return values


def render_chart(chart_dir, values_files=(), overrides=None, release_name="release",
                 namespace="default"):
    """Renders every template of the chart: {template file name: text}, as `helm template`."""
    from pathlib import Path

    chart_dir = Path(chart_dir)
    chart = yaml.safe_load((chart_dir / "Chart.yaml").read_text())
    values = yaml.safe_load((chart_dir / "values.yaml").read_text()) or {}
    for path in values_files:
        values = merge_values(values, yaml.safe_load(Path(path).read_text()) or {})
    for dotted, value in (overrides or {}).items():
        set_value(values, dotted, value)
    sources = {p.name: p.read_text() for p in sorted((chart_dir / "templates").iterdir())
               if p.suffix in (".yaml", ".yml", ".tpl", ".txt")}
    template = Template(sources)
    context = {
        "Values": values,
        "Chart": {"Name": chart["name"], "Version": chart["version"],
                  "AppVersion": chart.get("appVersion")},
        "Release": {"Name": release_name, "Namespace": namespace, "Service": "Helm",
                    "IsInstall": True, "IsUpgrade": False, "Revision": 1},
        "Capabilities": {"KubeVersion": {"Version": "v1.29.0"}},
    }
    return {name: template.render(name, context) for name in sources if not name.startswith("_")}
