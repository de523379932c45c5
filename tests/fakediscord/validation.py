"""Discord's request validation and error bodies (the shapes discord.py turns into exceptions)."""

from __future__ import annotations

import re
from typing import Any

# Discord JSON error codes used by the fake.
UNKNOWN_GUILD = 10004
UNKNOWN_CHANNEL = 10003
UNKNOWN_MEMBER = 10007
UNKNOWN_MESSAGE = 10008
UNKNOWN_USER = 10013
UNKNOWN_EMOJI = 10014
UNKNOWN_WEBHOOK = 10015
UNKNOWN_INTERACTION = 10062
UNKNOWN_APPLICATION_COMMAND = 10063
CANNOT_EDIT_OTHERS_MESSAGE = 50005
EMPTY_MESSAGE = 50006
CANNOT_DM_USER = 50007
MISSING_ACCESS = 50001
MISSING_PERMISSIONS = 50013
INVALID_WEBHOOK_TOKEN = 50027
INVALID_FORM_BODY = 50035
ALREADY_ACKNOWLEDGED = 40060
THREAD_ALREADY_CREATED = 160004


class ApiError(Exception):
    """Raised inside route handlers; becomes an HTTP error response with Discord's body."""

    def __init__(
        self,
        status: int,
        code: int,
        message: str,
        errors: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(f"{status} {code} {message}")
        self.status = status
        self.body: dict[str, Any] = {"message": message, "code": code}
        if errors is not None:
            self.body["errors"] = errors


def not_found(code: int, what: str) -> ApiError:
    return ApiError(404, code, f"Unknown {what}")


def missing_access() -> ApiError:
    return ApiError(403, MISSING_ACCESS, "Missing Access")


def missing_permissions() -> ApiError:
    return ApiError(403, MISSING_PERMISSIONS, "Missing Permissions")


class FormErrors:
    """Collects field errors into Discord's nested ``{"a": {"0": {"b": {"_errors": [...]}}}}``."""

    def __init__(self) -> None:
        self.tree: dict[str, Any] = {}

    def add(self, path: tuple[str | int, ...], code: str, message: str) -> None:
        node = self.tree
        for part in path:
            node = node.setdefault(str(part), {})
        node.setdefault("_errors", []).append({"code": code, "message": message})

    def max_len(self, path: tuple[str | int, ...], value: Any, limit: int) -> None:
        if value is not None and len(value) > limit:
            self.add(path, "BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer in length.")

    def length_between(self, path: tuple[str | int, ...], value: Any, lo: int, hi: int) -> None:
        if value is None:
            self.add(path, "BASE_TYPE_REQUIRED", "This field is required")
        elif not lo <= len(value) <= hi:
            self.add(
                path,
                "BASE_TYPE_BAD_LENGTH",
                f"Must be between {lo} and {hi} in length.",
            )

    def raise_if_any(self) -> None:
        if self.tree:
            raise ApiError(400, INVALID_FORM_BODY, "Invalid Form Body", self.tree)


def embed_length(embed: dict[str, Any]) -> int:
    """Characters Discord counts toward the 6,000 total (same fields as discord.py's len())."""
    total = len(embed.get("title") or "") + len(embed.get("description") or "")
    for f in embed.get("fields") or []:
        total += len(f.get("name") or "") + len(f.get("value") or "")
    total += len((embed.get("footer") or {}).get("text") or "")
    total += len((embed.get("author") or {}).get("name") or "")
    return total


def validate_message(
    body: dict[str, Any],
    *,
    n_files: int = 0,
    partial: bool = False,
    existing_has_content: bool = False,
) -> None:
    """Apply Discord's message limits; raise 400 50035 / 50006 like Discord does."""
    errors = FormErrors()
    content = body.get("content")
    if content is not None and not isinstance(content, str):
        content = str(content)
    errors.max_len(("content",), content, 2000)

    embeds = body.get("embeds")
    if embeds is not None:
        if len(embeds) > 10:
            errors.add(("embeds",), "BASE_TYPE_MAX_LENGTH", "Must be 10 or fewer in length.")
        total = 0
        for i, embed in enumerate(embeds):
            p = ("embeds", i)
            errors.max_len((*p, "title"), embed.get("title"), 256)
            errors.max_len((*p, "description"), embed.get("description"), 4096)
            fields = embed.get("fields") or []
            if len(fields) > 25:
                errors.add((*p, "fields"), "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")
            for j, f in enumerate(fields):
                errors.length_between((*p, "fields", j, "name"), f.get("name"), 1, 256)
                errors.length_between((*p, "fields", j, "value"), f.get("value"), 1, 1024)
            footer = embed.get("footer")
            if footer is not None:
                errors.max_len((*p, "footer", "text"), footer.get("text"), 2048)
            author = embed.get("author")
            if author is not None:
                errors.max_len((*p, "author", "name"), author.get("name"), 256)
            total += embed_length(embed)
        if total > 6000:
            errors.add(
                ("embeds",),
                "MAX_EMBED_SIZE_EXCEEDED",
                "Embed size exceeds maximum size of 6000",
            )

    components = body.get("components")
    if components is not None:
        _validate_components(errors, components, body.get("flags") or 0)

    nonce = body.get("nonce")
    if nonce is not None and len(str(nonce)) > 25:
        errors.add(("nonce",), "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")
    errors.raise_if_any()

    if partial:
        return
    has_components = bool(components)
    empty = not (content and content.strip()) and not embeds and not n_files and not has_components
    if empty and not (body.get("sticker_ids") or body.get("poll") or existing_has_content):
        raise ApiError(400, EMPTY_MESSAGE, "Cannot send an empty message")


def _validate_components(errors: FormErrors, rows: list[dict[str, Any]], flags: int) -> None:
    if flags & (1 << 15):  # IS_COMPONENTS_V2: layout components; only check custom_ids.
        seen: set[str] = set()
        _check_custom_ids(errors, rows, ("components",), seen)
        return
    if len(rows) > 5:
        errors.add(("components",), "BASE_TYPE_MAX_LENGTH", "Must be 5 or fewer in length.")
    seen = set()
    for i, row in enumerate(rows):
        if row.get("type") != 1:
            errors.add(
                ("components", i, "type"),
                "UNION_TYPE_CHOICES",
                'Value of field "type" must be one of (1,).',
            )
            continue
        children = row.get("components") or []
        if not children:
            errors.add(
                ("components", i, "components"), "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 5 in length."
            )
        buttons = [c for c in children if c.get("type") == 2]
        selects = [c for c in children if c.get("type") in (3, 5, 6, 7, 8)]
        if len(children) > 5:
            errors.add(
                ("components", i, "components"), "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 5 in length."
            )
        elif selects and len(children) > 1:
            errors.add(
                ("components", i, "components"),
                "COMPONENT_LAYOUT_WIDTH_EXCEEDED",
                "The specified component exceeds the maximum width",
            )
        for j, comp in enumerate(children):
            p = ("components", i, "components", j)
            if comp in buttons:
                errors.max_len((*p, "label"), comp.get("label"), 80)
                style = comp.get("style")
                if style == 5:
                    if not comp.get("url"):
                        errors.add((*p, "url"), "BASE_TYPE_REQUIRED", "This field is required")
                    if comp.get("custom_id"):
                        errors.add(
                            (*p, "custom_id"),
                            "BUTTON_COMPONENT_CUSTOM_ID_NOT_ALLOWED",
                            "A custom id cannot be specified for link buttons",
                        )
                elif style != 6 and not comp.get("custom_id"):
                    errors.add((*p, "custom_id"), "BASE_TYPE_REQUIRED", "This field is required")
            if comp in selects:
                opts = comp.get("options")
                if opts is not None and not 1 <= len(opts) <= 25:
                    errors.add((*p, "options"), "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 25 in length.")
                errors.max_len((*p, "placeholder"), comp.get("placeholder"), 150)
        _check_custom_ids(errors, children, ("components", i, "components"), seen)


def _check_custom_ids(
    errors: FormErrors,
    items: list[dict[str, Any]],
    path: tuple[str | int, ...],
    seen: set[str],
) -> None:
    for j, comp in enumerate(items):
        cid = comp.get("custom_id")
        if cid is not None:
            if not 1 <= len(cid) <= 100:
                errors.add(
                    (*path, j, "custom_id"), "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length."
                )
            elif cid in seen:
                errors.add(
                    (*path, j, "custom_id"),
                    "COMPONENT_CUSTOM_ID_DUPLICATED",
                    "Component custom id cannot be duplicated",
                )
            seen.add(cid)
        children = comp.get("components")
        if isinstance(children, list):
            _check_custom_ids(errors, children, (*path, j, "components"), seen)
        accessory = comp.get("accessory")
        if isinstance(accessory, dict):
            _check_custom_ids(errors, [accessory], (*path, j, "accessory"), seen)


_NAME_RE = re.compile(r"^[-_\w]{1,32}$", re.UNICODE)


def _valid_name(name: Any) -> bool:
    return isinstance(name, str) and bool(_NAME_RE.match(name)) and name == name.lower()


def validate_commands(commands: list[dict[str, Any]]) -> None:
    """Bulk-overwrite validation: ≤100 per scope, names 1–32 lowercase, descriptions 1–100."""
    errors = FormErrors()
    if len(commands) > 100:
        errors.add((), "BASE_TYPE_MAX_LENGTH", "Must be 100 or fewer in length.")
    seen: set[tuple[int, str]] = set()
    for i, cmd in enumerate(commands):
        ctype = cmd.get("type", 1)
        name = cmd.get("name")
        if ctype == 1:
            if not _valid_name(name):
                errors.add((i, "name"), "APPLICATION_COMMAND_INVALID_NAME", "Command name is invalid")
            errors.length_between((i, "description"), cmd.get("description"), 1, 100)
            _validate_options(errors, cmd.get("options") or [], (i, "options"), depth=0)
        else:
            errors.length_between((i, "name"), name, 1, 32)
            if cmd.get("description"):
                errors.add(
                    (i, "description"),
                    "APPLICATION_COMMAND_CONTEXT_MENU_DESCRIPTION",
                    "Context menu commands cannot have description",
                )
        key = (ctype, str(name))
        if key in seen:
            errors.add(
                (i, "name"),
                "APPLICATION_COMMANDS_DUPLICATE_NAME",
                f"Application command names must be unique: {name}",
            )
        seen.add(key)
    errors.raise_if_any()


def _validate_options(
    errors: FormErrors, options: list[dict[str, Any]], path: tuple[str | int, ...], depth: int
) -> None:
    if len(options) > 25:
        errors.add(path, "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")
    seen_optional = False
    names: set[str] = set()
    for j, opt in enumerate(options):
        p = (*path, j)
        if not _valid_name(opt.get("name")):
            errors.add((*p, "name"), "APPLICATION_COMMAND_INVALID_NAME", "Command name is invalid")
        if opt.get("name") in names:
            errors.add(
                (*p, "name"), "APPLICATION_COMMAND_OPTIONS_DUPLICATE_NAME", "Option names must be unique"
            )
        names.add(opt.get("name"))
        errors.length_between((*p, "description"), opt.get("description"), 1, 100)
        otype = opt.get("type")
        if otype in (1, 2):
            if depth >= (1 if otype == 2 else 2):
                errors.add(
                    (*p, "type"),
                    "APPLICATION_COMMAND_OPTION_TYPE_INVALID",
                    "Subcommand groups cannot be nested",
                )
            _validate_options(errors, opt.get("options") or [], (*p, "options"), depth + 1)
            continue
        choices = opt.get("choices")
        if choices is not None and len(choices) > 25:
            errors.add((*p, "choices"), "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")
        if opt.get("required"):
            if seen_optional:
                errors.add(
                    (*p, "required"),
                    "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID",
                    "Required options must be placed before non-required options",
                )
        else:
            seen_optional = True


def validate_choices(choices: Any) -> None:
    """Autocomplete results: ≤25 choices, names 1–100, string values ≤100."""
    errors = FormErrors()
    if not isinstance(choices, list):
        errors.add(("data", "choices"), "BASE_TYPE_REQUIRED", "This field is required")
        errors.raise_if_any()
        return
    if len(choices) > 25:
        errors.add(("data", "choices"), "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")
    for i, ch in enumerate(choices):
        errors.length_between(("data", "choices", i, "name"), ch.get("name"), 1, 100)
        value = ch.get("value")
        if isinstance(value, str):
            errors.max_len(("data", "choices", i, "value"), value, 100)
    errors.raise_if_any()
