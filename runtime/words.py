"""Printed words among the digits: a piece that is part of a word is not a digit, whatever its shape.

Some printed letters are digit shapes (the o and the B of "Box" read as 0 and
8), and alone no classifier can tell them from the digit they imitate. In a
word they are never alone: their neighbours on the line, as tall as they are
and about as close, are letters the classifier does reject. So pieces are
chained into words by such gaps, and a word goes whole when two of its pieces
or more, at least 40% of it, are rejected ("Floor" has its F and its r
rejected, so its l and o's go with them), or when more than half of it, two
pieces at least, is rejected or doubtful ("Box": B rejected, x doubtful; a
word in a handwriting face, shorter than the frame's digits, most of whose
letters read doubtfully as digits, or a capital with small letters at most
two thirds its height, one of them doubtful). A piece read surely and as
tall as the frame's digits stays even then: a digit written just before a
word, a little under a word space from it, is chained into the word but is
no letter of it (a 0 12 px before "Account"), nor is one written just after
it, much taller than its letters.
Otherwise only the pieces the classifier doubts go with a rejected piece of
their word, those smaller than the frame's handwriting (a printed label is
smaller than the digits written beside it: the Y of "Year" reads as an 8 with
"ear" rejected), and those not read surely that nearly touch rejected letters
(a handwriting face joins its capital to the letters after it), while a number
with one unreadable digit keeps the digits it reads well, which are as tall as
the frame's others. Digits written after a word stand a word space away from
it, so they are a word of their own. Anywhere, a doubtful piece far smaller
than the frame's digits is no digit (a letter left out of its word), and two
doubtful pieces of a word that lean into each other are letters of an italic
face, where digits written side by side stand apart. The lowercase letters
of a word are often too small or too thin to be digits and never reach the
classifier; the segmenter reports them (`Found.others`) and they count as
rejected letters, so the I of "Invoice" goes with "nvoice" (the pages family
of `benchmarks/RESULTS-layouts.md`).
"""

from collections.abc import Sequence
from statistics import median

from digit_cnn_edge.runtime.segment.params import Box

WORD_GAP = 0.3
"""Two pieces are letters of one word when the gap between them is under this share of the taller one's height,
counted at most `GAP_HEIGHT` times the shorter one's ..."""
GAP_HEIGHT = 1.3
"""... (a digit written a word space after a smaller printed word is no letter of it: "AGE 6", "Class 14") ..."""
PIXEL = 1
"""... plus a pixel, for the gap's rounding: the letters of small print 13 px tall stand 4 px apart (the f of "Ref"
alone read as a 5) ..."""
LINE_OVERLAP = 0.5
"""... they overlap vertically by at least this share of the shorter one's height ..."""
HEIGHT_RATIO = 2.2
"""... and neither is more than this many times as tall as the other (a capital beside a small letter is 1.5x) ..."""
CLOSE_RATIO = 3.0
"""... or up to this many times as tall and nearly touching (`CLOSE_GAP`, `CLOSE_OVERLAP`): a handwriting face's
capital beside its small letters ("T" and "ax" of "Tax" in dkg Italic, 2.24x)."""
CLOSE_GAP = 0.2
"""Nearly touching: a gap under this share of the shorter piece's height (a number written after a word stands a
word space off: at 0.3, a 1 written 10 px after "Order", 2.2x as tall as its "rder", joined the word and went with
it; a handwriting face's "l" 3x as tall as the "oo" 3 px after it is of their word, tune pages) ..."""
CAPITAL_GAP = 0.3
"""... or, when the taller one comes first, under this share (and a pixel): a handwriting face's capital 4 px before
its small letters ("L" 38 px and "oan" 17 px of "Loan" in Z003 italic, 2.2-2.4x, the L read 6 at 0.31-0.51, scratch
pages), where a digit after a word is the taller one coming last."""
CLOSE_OVERLAP = 0.3
"""... and across each other by less than this share of it: a piece of a digit the grouping left apart lies
further into the digit's box (a 6's loop, rejected, 12 px into its 6, took the doubtful 6 with it: scratch
frames of blocks)."""
WORD_REJECTED = (2, 0.4)
"""A word goes whole when at least this many of its pieces, and this share of them, are rejected."""
WORD_DOUBTED = 0.5
"""... or when more than this share of it (two pieces at least) is rejected or doubtful: a word in a handwriting face
can be read as digits, most of them doubtfully, with no letter rejected ("Bus" as 8, 6 and 5 at 0.41, 0.51 and
0.92) ..."""
DOUBTED_HEIGHT = 0.9
"""... which, with no piece rejected, holds only for a word shorter than the frame's digits (its median height under
this share of `digit_height`): a number as tall as the frame's others keeps its two doubtful digits of three, and
in a frame with no sure digit to measure by, so does every number. A piece read surely (`SURE`) at least this share
of `digit_height` tall stays when its word goes: a digit chained into a word it was written just before."""
TRAILING = 1.6
"""The last piece of a word, not doubtful (`DOUBT`), at least this many times as tall as each other piece of it stays
when the word goes: a digit written just after a word ("Total" 30 px, a 6 of 58 px 9 px after its l, read at 0.88,
tune pages). A letter that ends a word is about as tall as its capital and ascenders, but for a handwriting face's
f that reaches below the line too ("ef" of "Ref", 1.6x its R, read doubtfully at 0.45)."""
MIXED = (3, 1.5)
"""A word much shorter than the frame's digits (its median under `LETTER_HEIGHT` of them) with a doubtful piece and
none rejected goes whole, too, when it has at least this many pieces and its tallest is this many times as tall as
its shortest, and it begins with a capital (`CAPITAL`): a capital and its small letters ("Bus" in a handwriting
face, 28 and 16 px on a page of 50-70 px digits, read 8, 6 and 5 at 0.67, 0.57 and 0.89), where a number's digits
are of one height. Not a number with a flat 0 in it, 19 px among digits of 40 (tune frames of blocks): its median
is near the frame's."""
CAPITAL = 1.2
"""A word begins with a capital when its first piece is at least this many times as tall as each other piece: "Day"
in Z003 italic (D 41 px, y 29 px, reaching below the line), not a number with a flat digit ("824", its 2 24 px
among 37 px) or one whose last digit came apart ("725", its 5's body 18 px 6 px after a 2 taller than its 7,
joined to the number by `CAPITAL_GAP`; scratch pages)."""
DOUBT = 0.6
"""A piece read below this top probability is doubtful: it goes with any rejected piece of its word."""
LETTER_HEIGHT = 0.65
"""So does a piece under this share of the frame's digit height (`digit_height`), where a rejected piece of its word
is no stroke (`STROKE_WIDTH`)."""
TINY = 0.35
"""A doubtful piece (`DOUBT`) whose longest side is under this share of the frame's digit height is no digit,
in a word or alone: the t of "Account" or the I of "Invoice" left out of their word, 12-16 px on pages of 40-60 px
digits, read at 0.32-0.49 (tune pages). The smallest doubtful digits of the tune and scratch frames of every
family are 0.37 of their frame's digit height on their longest side or more (a 3 of 35 px among 95 px digits)."""
LEAN = 0.5
"""Two pieces of a word that overlap across by more than this share of the narrower one's width, neither read surely
and one doubtfully, are letters of an italic face leaning into each other (the "A" and "ge" of "Age" in Z003 italic,
read 1 and 8 at 0.44 and 0.63, scratch pages), where digits written side by side stand apart."""
STROKE_WIDTH = 0.35
"""A piece narrower than this share of its height is a stroke: a box's side left beside a small boxed 1 (0.24,
scratch pages), not letters ("ll" joined in a handwriting face, 0.43-0.48)."""
SURE = 0.9
"""The frame's digit height is the median height of the pieces read at this top probability or more, in words
without a rejected piece; in a frame with none, no piece is small."""
LETTER_WIDTH = 0.5
"""A piece read below `SURE` that nearly touches rejected letters (`touches_letters`) goes with them too: a
handwriting face joins its letters ("Y" + "ear", "C" + "ode" read as 8 and 6 at 0.79-0.89, the f after "Re"),
where a digit written after a word stands a word space off. Letters are at least this share of their height wide:
the side of a printed box between two boxed 1s, rejected, is no letter (scratch pages); stricter than
`STROKE_WIDTH`, at which a 1 of a tune block went with the piece beside it ..."""
LETTER_SHARE = 0.5
"""... and at least this share of the piece's height: a 6's loop the grouping left apart, rejected, overlapping its
stem 116 px tall, is none either (tune frames of light on dark)."""


def across(a: Box, b: Box) -> int:
    """The horizontal gap between two boxes (negative: they overlap by that much)."""
    return max(a[0], b[0]) - min(a[0] + a[2], b[0] + b[2])


def in_one_word(a: Box, b: Box) -> bool:
    (_, y1, _, h1), (_, y2, _, h2) = a, b
    taller, shorter = max(h1, h2), min(h1, h2)
    if shorter <= 0 or taller > CLOSE_RATIO * shorter:
        return False
    overlap = min(y1 + h1, y2 + h2) - max(y1, y2)
    gap = across(a, b)
    if taller > HEIGHT_RATIO * shorter:
        taller_first = (h1 > h2) == (a[0] < b[0])  # a capital before its small letters
        reach = CAPITAL_GAP * shorter + PIXEL if taller_first else CLOSE_GAP * shorter
        return overlap >= LINE_OVERLAP * shorter and -CLOSE_OVERLAP * shorter < gap < reach
    return overlap >= LINE_OVERLAP * shorter and gap < WORD_GAP * min(taller, GAP_HEIGHT * shorter) + PIXEL


def words(boxes: list[Box]) -> list[list[int]]:
    """Indices of the pieces chained into words by `in_one_word`; a piece alone is a word of one."""
    unseen, out = set(range(len(boxes))), []
    while unseen:
        word, todo = [], [unseen.pop()]
        while todo:
            i = todo.pop()
            word.append(i)
            near = [j for j in unseen if in_one_word(boxes[i], boxes[j])]
            unseen.difference_update(near)
            todo.extend(near)
        out.append(sorted(word))
    return out


def not_digits(boxes: list[Box], confidence: list[float], others: Sequence[Box], min_confidence: float) -> set[int]:
    """Indices of the digits found (`boxes`, read at `confidence`) that are not digits: read below
    `min_confidence`, or letters of a printed word (`words_of`). `others` are the frame's pieces no digit is made
    of: letters too small or too thin to be digits, which in a word count as its rejected letters ("nvoice"
    takes the I of "Invoice" with it)."""
    n = len(boxes)
    rejected = {k for k in range(n) if confidence[k] < min_confidence} | set(range(n, n + len(others)))
    return {k for k in words_of([*boxes, *others], rejected, [*confidence, *[0.0] * len(others)]) if k < n}


def words_of(boxes: list[Box], rejected: set[int], confidence: list[float]) -> set[int]:
    """Indices of the pieces that are rejected, in a word enough of whose pieces are rejected (`WORD_REJECTED`) or
    rejected or doubtful (`WORD_DOUBTED`, `DOUBTED_HEIGHT`, `MIXED`) but for those read surely (`SURE`) and as tall as the
    frame's digits (`DOUBTED_HEIGHT`), or doubtful, small (`LETTER_HEIGHT`, beside a rejected piece that is no
    `stroke`) or not sure and nearly touching rejected letters (`touches_letters`) in a word with a rejected piece;
    and a doubtful piece far smaller than the frame's digits (`TINY`), wherever it stands. A digit written just after
    a word (`TRAILING`) stays when the word goes."""
    count, share = WORD_REJECTED
    groups = words(boxes)
    height = digit_height(boxes, groups, rejected, confidence)
    small, tall = LETTER_HEIGHT * height, DOUBTED_HEIGHT * height
    out = set(rejected) | {i for i, box in enumerate(boxes) if confidence[i] < DOUBT and max(box[2:]) < TINY * height}
    for word in groups:
        bad = sum(i in rejected for i in word)
        doubted = bad + sum(i not in rejected and confidence[i] < DOUBT for i in word)
        heights = [boxes[i][3] for i in word]
        # the median only where it matters: most words of a frame are numbers read surely
        mostly_doubted = (
            doubted >= 2 and doubted > WORD_DOUBTED * len(word) and (bad > 0 or median(heights) < tall)
        )
        mixed = (
            bad == 0
            and doubted >= 1
            and len(word) >= MIXED[0]
            and max(heights) >= MIXED[1] * min(heights)
            and capital_first(word, boxes)
            and median(heights) < small
        )
        if (bad >= count and bad >= share * len(word)) or mostly_doubted or mixed:
            # but for a digit it chained in: read surely, as tall as the frame's digits (a frame with none sure has none),
            # or written just after it
            out.update(i for i in word if not (height and confidence[i] >= SURE and boxes[i][3] >= tall))
            out.discard(trailing(word, boxes, confidence))
        elif bad:
            out.update(
                i
                for i in word
                if confidence[i] < DOUBT
                or (boxes[i][3] < small and any(not stroke(boxes[j]) for j in word if j in rejected))
                or (confidence[i] < SURE and any(touches_letters(boxes[i], boxes[j]) for j in word if j in rejected))
            )
        out.update(i for i in word for j in word if i != j and leaning(i, j, boxes, confidence, rejected))
    return out


def leaning(i: int, j: int, boxes: list[Box], confidence: list[float], rejected: set[int]) -> bool:
    """Whether pieces `i` and `j` of a word are letters of an italic face leaning into each other (`LEAN`): neither
    rejected nor sure, one doubtful."""
    a, b = boxes[i], boxes[j]
    return (
        i not in rejected
        and j not in rejected
        and max(confidence[i], confidence[j]) < SURE
        and min(confidence[i], confidence[j]) < DOUBT
        and -across(a, b) > LEAN * min(a[2], b[2])
    )


def capital_first(word: list[int], boxes: list[Box]) -> bool:
    """Whether a `word` begins with a capital: its first piece `CAPITAL` times as tall as each other piece."""
    first = min(word, key=lambda i: boxes[i][0])
    return all(boxes[first][3] >= CAPITAL * boxes[i][3] for i in word if i != first)


def trailing(word: list[int], boxes: list[Box], confidence: list[float]) -> int | None:
    """The last piece of a `word` of two or more if it is a digit written after it (`TRAILING`), else None."""
    if len(word) < 2:
        return None
    last = max(word, key=lambda i: boxes[i][0])
    others = max(boxes[i][3] for i in word if i != last)
    return last if confidence[last] >= DOUBT and boxes[last][3] >= TRAILING * others else None


def stroke(piece: Box) -> bool:
    """Narrower than a letter for its height (`STROKE_WIDTH`): a box's side, a rule's end."""
    return piece[2] < STROKE_WIDTH * piece[3]


def touches_letters(piece: Box, letters: Box) -> bool:
    """Whether a piece nearly touches rejected `letters` beside it, before or after (`CLOSE_GAP`, `CLOSE_OVERLAP` of
    the shorter one's height), that are as wide as a letter (`LETTER_WIDTH`) and as tall as one beside the piece
    (`LETTER_SHARE`): not a stroke, such as a box's side, nor a fragment of the piece itself."""
    shorter = min(piece[3], letters[3])
    gap = across(piece, letters)
    return (
        letters[2] >= LETTER_WIDTH * letters[3]
        and letters[3] >= LETTER_SHARE * piece[3]
        and -CLOSE_OVERLAP * shorter < gap < CLOSE_GAP * shorter
    )


def digit_height(boxes: list[Box], groups: list[list[int]], rejected: set[int], confidence: list[float]) -> float:
    """The frame's digit height (`SURE`); 0 when it has no sure piece."""
    sure = [boxes[i][3] for word in groups if rejected.isdisjoint(word) for i in word if confidence[i] >= SURE]
    return median(sure) if sure else 0.0
