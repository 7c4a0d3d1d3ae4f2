"""Find the digits in a photo or video frame with classic OpenCV, in a few named steps, one module each.

0. Working scale (`ink.py`): frames are brought to at most `work_side` pixels on their
   short side, so kernels, the paper estimate and size limits mean the same
   thing on a 640x480 webcam frame and on a 1920x1080 photo with 300-px digits.
1. `ink_map` (`ink.py`): decide whether the ink is darker or lighter than the paper
   (the skew around the local mean), estimate the paper on an 8x smaller
   frame (a closing or opening wipes out the strokes) and subtract; this
   flattens uneven light and handles dark ink on light paper as well as
   light on dark. At 8x the 9-pixel kernel spans 72 working pixels, more
   than the solid ink of a large, thick digit.
2. `binarize` and `pieces` (`ink.py`): binarize the ink map with hysteresis (pixels
   above half the Otsu level, never below a noise floor, form pieces; a piece
   counts only if some of its ink reaches the full level), close small gaps,
   take external contours. `clear_structure` (`rules.py`): printed rules and
   box outlines (thin, straight, long) are cleared from the pieces that carry
   them, strokes crossing them kept, and the pieces found again, so a digit
   on a ruled line or in a printed box comes apart from it. A rule that came
   out in dashes (faint, or cut by the boxes it runs through) is found on the
   frame as binarized (`broken_rules`) and what is left of it cleared after,
   a margin rule too; a thin remnant of one that widens a digit's piece, or
   ties it to the frame's side, goes too (`rule_tail`), and so do the sides
   of boxes or a table's cells that ran from one cleared rule to the next
   (`cell_sides`).
3. `group_pieces` (`grouping.py`): only a fragment joins a digit. A fragment is a piece under
   half the height of a piece it touches (a pen lift, a 5's detached bar, a
   speck). It joins its nearest digit-sized neighbour if the grown box keeps
   a digit's shape (a 5's bar may widen it further) and, when a judge (the
   classifier) is given, if the merged
   crop reads about as confidently as the digit alone, all candidates in one
   batch. Two digit-sized pieces merge only as halves, one on the other and
   together within 1.5 times the digit height of their line (a broken 8, a 3
   broken at its waist) or, both wider than tall, together digit-shaped (a 5
   in two), when the whole reads better than both, or as a digit
   where one half alone does not; fragments join only digit-sized pieces, a
   fragment standing in a word is a letter and joins none, and all of a
   digit's fragments together must keep it within its own shape limits, so
   merges cannot chain. A part kept apart that lies
   mostly inside its digit's box, or a fragment kept apart that does not read
   as a digit on its own, is dropped, never read as a digit.
   `split_touching`: a narrow blob far taller than the frame's typical digit
   (two stacked digits whose strokes touch) is cut at its thinnest middle
   row when the classifier doubts the whole and reads both halves better; a
   blob 1.3x as wide as tall (two digits side by side) at its thinnest middle
   column when the classifier doubts the whole and reads both halves surely;
   either only into halves about as tall as each other.
   `join_in_boxes`: the blobs inside one printed box that was cleared join
   when the classifier reads them together better than each alone (clearing
   the box's sides cut a digit that touched them).
4. `is_digit` (`find.py`) drops what is not digit-shaped: specks, long lines, anything
   touching the frame's edge. What it drops, short of the edge, `segment` reports
   as `others`: the small letters that show a word (`runtime/words.py`).
5. `frame_piece` (`ink.py`): each digit is cut from the ink map (other pieces masked
   out, ink under the weak level subtracted), its strokes brought to full
   strength the way MNIST's are, and framed like MNIST for the classifier.
6. `reading_lines` (`lines.py`): digits are chained into lines left to right by vertical
   overlap with their left neighbour (slant and mixed heights stay on one
   line), lines top to bottom.

`segment` (`find.py`) runs them in order; `params.py` holds the knobs they share.
"""

from digit_cnn_edge.runtime.segment.find import Found, segment
from digit_cnn_edge.runtime.segment.lines import reading_lines, reading_order
from digit_cnn_edge.runtime.segment.params import Box, Params

__all__ = ["Box", "Found", "Params", "reading_lines", "reading_order", "segment"]
