"""``qa.process`` and ``questions``: ask questions one per turn, validate, collect answers.

The first visit sends the welcome text and the first question as replies and pauses *at the
same node*. Each later turn takes the new input as the answer to the pending question; an
invalid answer is explained and the question asked again. When every question is answered
the node's output is ``{question_id: answer, …}`` and the flow follows the node's routing.

Progress lives in the execution state (``state.nodes[node].meta["qa"]``, answers so far as
the payload), so it survives the waiting snapshot.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ..errors import FlowError
from .conditions import compile_condition, is_index, json_equal, lookup
from .nodes import NodeEnv, Outcome, Wait, done
from .templating import QA_META

ANSWER_TYPES = {
    "text": "text",
    "string": "text",
    "number": "number",
    "float": "number",
    "integer": "integer",
    "int": "integer",
    "boolean": "boolean",
    "bool": "boolean",
    "choice": "choice",
    "enum": "choice",
    "select": "choice",
}
YES = frozenset({"yes", "y", "true", "1", "on", "ok", "sure"})
NO = frozenset({"no", "n", "false", "0", "off", "nope"})
_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_INTEGER = re.compile(r"[+-]?[0-9]+")
_NO_DEFAULT = object()


@dataclass(frozen=True, slots=True)
class Question:
    id: str
    prompt: str
    answer_type: str = "text"
    optional: bool = False
    max_words: int | None = None
    default: Any = _NO_DEFAULT
    options: tuple[tuple[Any, str], ...] = ()  # (value, label)
    show_if: Any = None

    @property
    def labels(self) -> list[str]:
        return [label for _, label in self.options]


def _parse_options(qid: str, raw: Any) -> tuple[tuple[Any, str], ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list) or not raw:
        raise FlowError(f"question `{qid}`: `options` must be a non-empty list")
    options: list[tuple[Any, str]] = []
    for item in raw:
        if isinstance(item, dict) and "value" in item:
            options.append((item["value"], str(item.get("label", item["value"]))))
        elif isinstance(item, str | int | float) and not isinstance(item, bool):
            options.append((item, str(item)))
        else:
            raise FlowError(
                f"question `{qid}`: option {item!r} must be a value or {{value, label}}"
            )
    return tuple(options)


def parse_question(index: int, raw: Any) -> Question:
    """One question; accepts the qa.process keys and the ``questions``/``fields`` keys."""
    if not isinstance(raw, dict) or not isinstance(raw.get("id"), str) or not raw["id"].strip():
        raise FlowError(f"question #{index + 1} needs a non-empty string `id`")
    qid = raw["id"]
    type_name = raw.get("answer_type", raw.get("type", "text"))
    answer_type = ANSWER_TYPES.get(type_name) if isinstance(type_name, str) else None
    if answer_type is None:
        raise FlowError(
            f"question `{qid}` has unknown answer_type {type_name!r} "
            "(expected text, number, integer, boolean or choice)"
        )
    max_words = raw.get("max_words")
    if max_words is not None and (
        not isinstance(max_words, int) or isinstance(max_words, bool) or max_words < 1
    ):
        raise FlowError(f"question `{qid}`: `max_words` must be a positive integer")
    options = _parse_options(qid, raw.get("options", raw.get("choices")))
    if answer_type == "choice" and not options:
        raise FlowError(f"question `{qid}` of type choice needs `options`")
    prompt = raw.get("prompt", raw.get("label", raw.get("title", qid)))
    optional = bool(raw.get("optional", False)) or raw.get("required") is False
    return Question(
        id=qid,
        prompt=str(prompt),
        answer_type=answer_type,
        optional=optional,
        max_words=max_words,
        default=raw.get("default", _NO_DEFAULT),
        options=options,
        show_if=raw.get("show_if"),
    )


def parse_form(payload: Any) -> tuple[str | None, list[Question]]:
    """``(welcome, questions)`` from ``{welcome?, questions|fields: [...]}``."""
    if not isinstance(payload, dict):
        raise FlowError("qa node payload must be an object with `questions` (or `fields`)")
    welcome = payload.get("welcome", payload.get("welcome_template"))
    if welcome is not None and not isinstance(welcome, str):
        raise FlowError("qa node `welcome` must be a string")
    raw = payload.get("questions", payload.get("fields", []))
    if not isinstance(raw, list):
        raise FlowError("qa node `questions` must be a list")
    questions = [parse_question(index, item) for index, item in enumerate(raw)]
    seen: set[str] = set()
    for question in questions:
        if question.id in seen:
            raise FlowError(f"duplicate question id `{question.id}`")
        seen.add(question.id)
    return welcome or None, questions


# -- answers ----------------------------------------------------------------------------


def extract_answer(value: Any, question: Question) -> Any:
    """The answer inside an input: a string, ``text``/``answer``/``value``, or ``{id: …}``."""
    if isinstance(value, dict):
        for key in (question.id, "text", "answer", "value"):
            if key in value:
                return value[key]
        return None
    return value


def _match_option(question: Question, text: str) -> tuple[bool, Any]:
    wanted = text.casefold()
    for value, label in question.options:
        if wanted in (str(value).casefold(), label.casefold()):
            return True, value
    if is_index(text) and 1 <= int(text) <= len(question.options):
        return True, question.options[int(text) - 1][0]
    return False, None


def validate(question: Question, raw: Any) -> tuple[bool, Any, str]:
    """``(ok, value, problem)``: the typed answer, or why it is not acceptable."""
    text = raw.strip() if isinstance(raw, str) else raw
    if text is None or text == "":
        if question.default is not _NO_DEFAULT:
            return True, question.default, ""
        if question.optional:
            return True, None, ""
        return False, None, "An answer is required."
    kind = question.answer_type
    if kind == "text":
        text = text if isinstance(text, str) else str(text)
        if question.max_words is not None and len(text.split()) > question.max_words:
            words = "word" if question.max_words == 1 else "words"
            return False, None, f"Please answer in at most {question.max_words} {words}."
        return True, text, ""
    if kind in ("number", "integer"):
        return _validate_number(kind, text)
    if kind == "boolean":
        if isinstance(text, bool):
            return True, text, ""
        word = str(text).casefold()
        if word in YES or word in NO:
            return True, word in YES, ""
        return False, None, "Please answer yes or no."
    ok, value = _match_option(question, str(text))
    if ok:
        return True, value, ""
    return False, None, f"Please choose one of: {', '.join(question.labels)}."


def _validate_number(kind: str, text: Any) -> tuple[bool, Any, str]:
    problem = (
        "Please answer with a whole number."
        if kind == "integer"
        else ("Please answer with a number.")
    )
    if isinstance(text, bool):
        return False, None, problem
    if isinstance(text, int | float):
        value: Any = text
    elif isinstance(text, str) and _INTEGER.fullmatch(text):
        value = int(text)
    elif isinstance(text, str) and _NUMBER.fullmatch(text):
        value = float(text)
    else:
        return False, None, problem
    if kind == "integer":
        if isinstance(value, float) and not value.is_integer():
            return False, None, problem
        return True, int(value), ""
    return True, value, ""


def _visible(question: Question, env: NodeEnv, answers: dict[str, Any]) -> bool:
    """``show_if``: a condition string, or ``{field|id: x, equals: v}``."""
    rule = question.show_if
    if rule is None:
        return True
    scope = {**env.template_ctx, "answers": answers}
    if isinstance(rule, str):
        return compile_condition(rule).holds(scope)
    if isinstance(rule, dict) and isinstance(rule.get("field", rule.get("id")), str):
        field = rule.get("field", rule.get("id"))
        current = answers.get(field) if field in answers else lookup(scope, str(field).split("."))
        if "equals" in rule:
            return json_equal(current, rule["equals"])
        if "not_equals" in rule:
            return not json_equal(current, rule["not_equals"])
    raise FlowError(
        f"question `{question.id}`: `show_if` must be a condition string or "
        "{field, equals|not_equals}"
    )


def _ask(question: Question) -> dict[str, Any]:
    message: dict[str, Any] = {"text": question.prompt}
    if question.options:
        message["options"] = question.labels
    return message


def _waiting(answers: dict[str, Any], question: Question, attempts: int) -> Outcome:
    progress = {"status": "waiting", "question": question.id, "attempts": attempts}
    output = done(dict(answers), {QA_META: progress}).output
    return Outcome(output, Wait(f"awaiting answer to `{question.id}`", at_self=True))


def run(env: NodeEnv, payload: Any) -> Outcome:
    """One visit of a qa node: start the form, or take the pending answer and go on."""
    welcome, questions = parse_form(payload)
    prior = env.state.nodes.get(env.node.id)
    progress = prior.meta.get(QA_META) if prior and isinstance(prior.meta, dict) else None
    by_id = {question.id: index for index, question in enumerate(questions)}
    if (
        isinstance(progress, dict)
        and progress.get("status") == "waiting"
        and (progress.get("question") in by_id)
    ):
        answers = dict(prior.payload) if prior and isinstance(prior.payload, dict) else {}
        index = by_id[progress["question"]]
        question = questions[index]
        ok, value, problem = validate(question, extract_answer(env.state.input, question))
        if not ok:
            env.emit({"text": problem})
            env.emit(_ask(question))
            return _waiting(answers, question, int(progress.get("attempts") or 1) + 1)
        answers[question.id] = value
        start = index + 1
    else:
        if not questions:
            # A form without questions is a plain message: its output is the welcome text,
            # replied when it is the flow's final payload (like templating.handlebars).
            return done({"text": welcome} if welcome else {})
        answers, start = {}, 0
        if welcome:
            env.emit({"text": welcome})
    for question in questions[start:]:
        if _visible(question, env, answers):
            env.emit(_ask(question))
            return _waiting(answers, question, 1)
    return done(answers, {QA_META: {"status": "complete"}})
