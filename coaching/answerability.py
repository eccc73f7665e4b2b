"""Whether the retrieved material answers a question: a small logistic model over several signals,
calibrated on the SQuAD v2 sample, in place of a bare relevance cut.

Signals (each in [0, 1] or near it):
- `relevance`: the best quotable passage's cosine with the question;
- `best_similarity`: the best single sentence's cosine with the question;
- `coverage`: the share of the question's key terms that the chosen sentences hold;
- `best_terms`: the best share of key terms (idf-weighted) held by one sentence;
- `agreement`: whether meaning and words point at the same passage (the densest passage is also the
  one holding most key terms, and the answer starts there), 0, 0.5 or 1;
- `answer_type`: whether the chosen sentences hold what the question asks for (`answer_types`: a
  number for "how many", a date for "when", a name for "who"), 0 or 1, and 0.5 when it asks for none;
- `negation`: 0 when the question is negated and the chosen sentences are not, nor advise against
  anything ("What did they never ...?" answered by a sentence with no "never" is often about
  something else; "What shouldn't I eat?" is answered by "Avoid ..."), else 1;
- `names`: 1 when the passage the answer starts from holds every name the question mentions (its
  capitalised words, `contrasts.names_held`), else 0; 1 when it names nothing. All or nothing rather
  than a share: one name of three swapped ("Who commissioned Danish vikings to make the Bayeux
  Tapestry?") marks a question the material cannot answer as surely as all three (5-fold on the
  calibration half, `bench.answers --calibrate`: AUROC 0.781 to 0.788, balanced accuracy 0.702 to 0.722);
- `numbers`: the share of the numbers the question says that the passage the answer starts from holds;
- `modifiers`: 0 when the chosen sentences say the opposite of a word of the question ("flexible"
  asked, "fixed" quoted), else the share of its order words ("first", "largest", "before") they hold
  (`contrasts`);
- `affirmative`: 1 unless the question is negated: a negated question is more often one the material
  cannot answer, even when the quote is negated too. Only a negation about a third party counts, for
  this and for `negation`: "I can't sleep" and "What shouldn't I eat?" are plain coaching questions.

The last three read what a question written against a text it cannot be answered from changes: a
name, a number, a modifier, a negation (`contrasts`).

The coefficients are fitted by `python -m bench.answers --calibrate` (numpy, Newton's method with a
little L2, every weight kept non-negative) and stored in `answerability.json` beside this file with the embedder they belong to: the
similarities of another embedder mean something else, so with any other embedder there is no model
and only the `COACH_MIN_RELEVANCE` floor applies.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from coaching.answer_types import asked_type, holds_type
from coaching.contrasts import modifiers_kept, names_held, numbers_held
from coaching.documents.passage_kinds import is_quotable
from coaching.generation import ContextPassage
from coaching.selection import Selection, select_sentences
from coaching.terms import content_words

MODEL_FILE = Path(__file__).with_name("answerability.json")
# The share of answerable calibration questions the threshold lets through. Chosen on the calibration
# half alone (`bench.answers --calibrate` prints the cross-validated balanced accuracy at each target):
# it climbs from 0.97 to 0.95 and barely moves below, so 0.95 declines most for the fewest answers lost.
ANSWERED_TARGET = 0.95
SIGNALS = (
    "relevance",
    "best_similarity",
    "coverage",
    "best_terms",
    "agreement",
    "answer_type",
    "negation",
    "names",
    "numbers",
    "modifiers",
    "affirmative",
)
_NEGATION = re.compile(r"\b(?:not|never|no|none|neither|nor|without|cannot)\b|n't\b", re.IGNORECASE)
# The asker's own situation ("I can't sleep", "What shouldn't I eat?") is a plain coaching question;
# the negation that marks a question written against a text is about a third party ("What did the
# Normans never conquer?").
_PERSONAL = re.compile(r"\b(?:i|i'm|me|my|we|us|our|you|your)\b", re.IGNORECASE)
# What answers a negated question without a "not": "What shouldn't I eat?" - "Avoid fried food."
_NEGATIVE_ADVICE = re.compile(
    r"\b(?:avoid\w*|limit\w*|cut (?:back|down)|skip\w*|stop\w*|less|fewer|instead|rather than|unless|"
    r"only|except|lack\w*|fail\w*)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class Signals:
    """What the model reads about one question and its material."""

    relevance: float
    best_similarity: float
    coverage: float
    best_terms: float
    agreement: float
    answer_type: float
    negation: float
    names: float
    numbers: float
    modifiers: float
    affirmative: float

    def values(self) -> list[float]:
        """In the order of `SIGNALS`."""
        return [float(getattr(self, name)) for name in SIGNALS]


def signals(question: str, context: Sequence[ContextPassage], selection: Selection) -> Signals:
    """The signals for a question, its retrieved passages and the sentences chosen from them."""
    quotable = [(index, p) for index, p in enumerate(context) if is_quotable(p.kind)]
    if not quotable:
        return Signals(*(0.0 for _ in SIGNALS))
    wanted = content_words(question)
    densest = max(quotable, key=lambda item: item[1].source.relevance_score)[0]
    wordiest = max(quotable, key=lambda item: (len(wanted & content_words(item[1].text)), -item[0]))[0]
    agreement = (float(densest == wordiest) + float(selection.anchor_passage == densest)) / 2
    quoted = " ".join(candidate.text for candidate in selection.chosen)
    anchor = context[selection.anchor_passage].text if selection.anchor_passage is not None else ""
    return Signals(
        relevance=max(p.source.relevance_score for _, p in quotable),
        best_similarity=selection.best_similarity,
        coverage=selection.coverage,
        best_terms=selection.best_terms,
        agreement=agreement,
        answer_type=_answer_type(question, wanted, quoted),
        negation=_negation_kept(question, quoted),
        names=float(names_held(question, anchor) >= 1.0),
        numbers=numbers_held(question, anchor),
        modifiers=modifiers_kept(question, quoted),
        affirmative=0.0 if _negated(question) else 1.0,
    )


def _negated(question: str) -> bool:
    """Whether the question negates what it asks about a third party (see `_PERSONAL`)."""
    return bool(_NEGATION.search(question)) and not _PERSONAL.search(question.replace("’", "'"))


def _negation_kept(question: str, quoted: str) -> float:
    if not _negated(question):
        return 1.0
    return float(bool(_NEGATION.search(quoted) or _NEGATIVE_ADVICE.search(quoted)))


def _answer_type(question: str, wanted: set[str], quoted: str) -> float:
    kind = asked_type(question)
    return 0.5 if kind is None else float(holds_type(quoted, kind, wanted))


@dataclass(frozen=True, slots=True)
class AnswerabilityModel:
    """A logistic model on standardised signals, with the decision threshold chosen at calibration."""

    embedder: str
    weights: tuple[float, ...]
    bias: float
    means: tuple[float, ...]
    scales: tuple[float, ...]
    threshold: float
    calibrated_on: str = ""

    def probability(self, found: Signals) -> float:
        """The estimated probability that the material answers the question."""
        z = self.bias + sum(
            w * (x - m) / s
            for w, x, m, s in zip(self.weights, found.values(), self.means, self.scales, strict=True)
        )
        return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))

    def answerable(self, found: Signals) -> bool:
        """Whether to answer (at or above the calibrated threshold) or to decline."""
        return self.probability(found) >= self.threshold

    def save(self, path: Path = MODEL_FILE) -> None:
        """Write the model as JSON."""
        path.write_text(json.dumps(asdict(self), indent=2) + "\n")

    @classmethod
    def load(cls, embedder: str, path: Path = MODEL_FILE) -> AnswerabilityModel | None:
        """The stored model when it was calibrated for this embedder, else None."""
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            return None
        if data.get("embedder") != embedder or len(data.get("weights", ())) != len(SIGNALS):
            return None  # another embedder's, or calibrated on other signals: recalibrate
        return cls(
            embedder=str(data["embedder"]),
            weights=tuple(float(w) for w in data["weights"]),
            bias=float(data["bias"]),
            means=tuple(float(m) for m in data["means"]),
            scales=tuple(float(s) for s in data["scales"]),
            threshold=float(data["threshold"]),
            calibrated_on=str(data.get("calibrated_on", "")),
        )


FloatArray = npt.NDArray[np.float64]


def fit(
    rows: Sequence[Signals],
    labels: Sequence[int],
    *,
    embedder: str,
    l2: float = 1.0,
    answered: float = ANSWERED_TARGET,
    note: str = "",
) -> AnswerabilityModel:
    """Fit the logistic model (Newton's method, L2 on the weights, weights kept non-negative) and the
    threshold at which `answered` of the answerable rows are answered."""
    x = np.asarray([row.values() for row in rows], dtype=np.float64)
    y = np.asarray(labels, dtype=np.float64)
    means = x.mean(axis=0)
    scales = x.std(axis=0)
    scales[scales < 1e-9] = 1.0
    design = np.hstack([np.ones((len(x), 1)), (x - means) / scales])
    # Every signal may only raise answerability: on SQuAD v2 the unanswerable questions were written to
    # share the paragraph's words, so an unconstrained fit learns "more key terms, less answerable",
    # which would decline plain questions about a creator's own material. A signal whose best weight
    # is negative is left out (weight 0) and the rest refitted.
    allowed = list(range(design.shape[1]))
    beta = _newton(design, y, allowed, l2)
    while any(beta[j] < 0 for j in allowed[1:]):
        allowed.remove(min(allowed[1:], key=lambda j: beta[j]))
        beta = _newton(design, y, allowed, l2)
    model = AnswerabilityModel(
        embedder=embedder,
        weights=tuple(float(b) for b in beta[1:]),
        bias=float(beta[0]),
        means=tuple(float(m) for m in means),
        scales=tuple(float(s) for s in scales),
        threshold=0.5,
        calibrated_on=note,
    )
    # The threshold answers `answered` of the answerable questions: a wrongly declined question costs a
    # client the answer that was there, and a threshold set at the calibration half's best balanced
    # accuracy fits that half's noise; a share of answered questions carries over.
    answerable = sorted(model.probability(row) for row, label in zip(rows, labels, strict=True) if label == 1)
    threshold = answerable[int((1 - answered) * len(answerable))] if answerable else 0.5
    return AnswerabilityModel(**{**asdict(model), "threshold": round(threshold, 6)})


def _newton(design: FloatArray, y: FloatArray, allowed: list[int], l2: float) -> FloatArray:
    """Penalised logistic regression on the `allowed` columns (the others' weights stay 0)."""
    columns = design[:, allowed]
    beta = np.zeros(len(allowed))
    penalty = np.eye(len(allowed)) * l2
    penalty[0, 0] = 0.0  # the intercept (column 0, always allowed) is not shrunk
    for _ in range(50):
        p = 1.0 / (1.0 + np.exp(-columns @ beta))
        gradient = columns.T @ (p - y) + penalty @ beta
        hessian = columns.T @ (columns * (p * (1 - p))[:, None]) + penalty
        step = np.linalg.solve(hessian, gradient)
        beta -= step
        if float(np.abs(step).max()) < 1e-8:
            break
    full = np.zeros(design.shape[1])
    full[allowed] = beta
    return full


def balanced_accuracy(scores: Sequence[float], labels: Sequence[int], threshold: float) -> float:
    """The mean of the share of answerable questions answered and of unanswerable ones declined."""
    positives = [s for s, label in zip(scores, labels, strict=True) if label == 1]
    negatives = [s for s, label in zip(scores, labels, strict=True) if label == 0]
    if not positives or not negatives:
        return 0.0
    answered = sum(1 for s in positives if s >= threshold) / len(positives)
    declined = sum(1 for s in negatives if s < threshold) / len(negatives)
    return (answered + declined) / 2


def auroc(scores: Sequence[float], labels: Sequence[int]) -> float:
    """The chance that an answerable question scores above an unanswerable one (ties count half)."""
    positives = [s for s, label in zip(scores, labels, strict=True) if label == 1]
    negatives = [s for s, label in zip(scores, labels, strict=True) if label == 0]
    if not positives or not negatives:
        return 0.0
    wins = sum((p > n) + 0.5 * (p == n) for p in positives for n in negatives)
    return wins / (len(positives) * len(negatives))


@dataclass(frozen=True, slots=True)
class Judgement:
    """The verdict on one question: the estimated probability it is answered, and whether to answer."""

    probability: float
    answerable: bool
    selection: Selection | None = None  # the sentences an extractive answer quotes (chosen once)


@dataclass(frozen=True, slots=True)
class ReplyLimits:
    """How long a reply may be: its length target, and how many sentences of the material it quotes."""

    max_chars: int
    max_sentences: int = 4


def judge(
    model: AnswerabilityModel, question: str, context: Sequence[ContextPassage], limits: ReplyLimits
) -> Judgement:
    """Choose the sentences an answer would quote, read the signals, and apply the model."""
    selection = select_sentences(question, context, limits.max_chars, max_sentences=limits.max_sentences)
    found = signals(question, context, selection)
    probability = model.probability(found)
    return Judgement(probability, probability >= model.threshold, selection)
