"""Normalise an untrusted answer, then look for attempts to instruct an LLM judge.

Used by :mod:`routerlab.score.judge` (whose docstring says what the flag can and cannot catch). Two
rules shape everything here:

* **Normalise before you look.** The judge model reads through look-alike letters, fullwidth forms,
  invisible characters and bidi controls, so a detector that matches raw text is blind to them. Every
  detector runs on two views of the answer: ``plain`` (format characters removed, NFKC, digits folded
  to ASCII, casefolded) for non-Latin keywords, and ``skeleton`` (``plain`` plus accents removed,
  look-alike letters folded to Latin, leetspeak inside words undone, s p a c e d letters joined) for
  Latin ones. Hidden channels are decoded and scanned too: base64 runs, Unicode tag characters, and
  the visual order of right-to-left overrides.
* **Bound the work.** Answers can be 100 KB and are written by the party being graded, so every
  gap in a pattern is bounded and no pattern chains or nests unbounded repetitions (matching stays
  linear, with no backtracking blow-up); the text scanned, the decoded payloads (in size and depth)
  and the number of matches reported are capped.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import re
import unicodedata
from collections.abc import Iterator
from typing import Final

__all__ = ["MAX_MATCHES", "MAX_SCAN_CHARS", "find_injections", "normalise"]

#: Text scanned per answer; a longer answer is scanned on its first and last halves of this.
MAX_SCAN_CHARS: Final = 1_000_000
#: Decoded base64 text scanned per level, and how many levels of base64-in-base64 are opened.
MAX_DECODED_CHARS: Final = 262_144
MAX_DECODE_DEPTH: Final = 2
#: Matches reported per answer: one is enough to flag it, and ``Score.detail`` must stay small.
MAX_MATCHES: Final = 50
_SNIPPET = 80

# Characters that render as nothing (or as a blank) but are not category Cf, so a Cf filter misses them.
_INVISIBLE: Final = frozenset("\u115f\u1160\u3164\uffa0\u2800\u180e\u034f")
_NEWLINES: Final = {ord(c): "\n" for c in "\r\x0b\x0c\x85\u2028\u2029"} | {
    i: None for i in (*range(0, 9), *range(14, 32), 0x7F)
}
_NON_ASCII: Final = re.compile(r"[^\x00-\x7f]+")

# Look-alikes of Latin letters (Cyrillic, Greek, Armenian, Cherokee, small capitals, IPA) that NFKC
# leaves alone. Not Unicode's full confusables.txt: the letters of the keywords matched below, and
# their neighbours, are what matter. Keys are folded in both cases before and after casefolding.
_LOOKALIKES: Final = {
    "a": "аАɑαΑᴀᎪꭺ",
    "b": "вВьЬʙβΒᏴ",
    "c": "сСϲϹςᴄᏟꮯ",
    "d": "ԁԀᴅᎠ",
    "e": "еЕєЄёЁεΕᴇᎬ",
    "f": "ꜰϝϜ",
    "g": "ɡɢցᏀ",
    "h": "һҺнНʜհΗᎻ",
    "i": "іІїЇιΙıɪɩᎥ",
    "j": "јЈȷϳᴊᎫ",
    "k": "кКκΚᴋᏦ",
    "l": "ӏӀʟᏞ",
    "m": "мМΜᴍᎷ",
    "n": "пηɴո",
    "o": "оОοΟσօՕᴏⲟ",
    "p": "рРρΡᴘᏢ",
    "q": "ԛԚ",
    "r": "гʀᎡᏒ",
    "s": "ѕЅꜱՏᏚᏕᔆ",
    "t": "тТτΤᴛᎢ",
    "u": "υսՍᴜμ",
    "v": "νᴠѵᏙ",
    "w": "ԝԜᴡѡᎳ",
    "x": "хХχΧ",
    "y": "уУүҮʏγΥᎩ",
    "z": "ᴢζΖᏃ",
    ":": "∶꞉ːˑ˸׃։܃܄᛬⁚",
    "=": "꞊᐀⹀゠",
    "|": "│┃ǀ∣❘",
    "<": "‹〈⟨❮❰ᐸ˂⧼",
    ">": "›〉⟩❯❱ᐳ˃⧽",
    "<<": "«≪《⟪",
    ">>": "»≫》⟫",
    "<<<": "⋘",
    ">>>": "⋙",
    "→": "⇒⟹➔➜➞⟶⇨➡⇾",
}
_FOLD: dict[int, str] = {}
for _latin, _chars in _LOOKALIKES.items():
    for _ch in _chars:
        for _form in {_ch, _ch.casefold(), _ch.upper(), _ch.lower()}:
            if len(_form) == 1 and not _form.isascii():
                _FOLD.setdefault(ord(_form), _latin)
# Enclosed letters without an NFKC decomposition: negative circled / squared, regional indicators.
for _base in (0x1F150, 0x1F170, 0x1F1E6):
    for _i in range(26):
        _FOLD[_base + _i] = chr(ord("a") + _i)
_LEET: Final = str.maketrans({"0": "o", "1": "l", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s"})
_GAPS = re.compile(r"(?<=\S)[ \t]{2,}")
_EMPHASIS = re.compile(r"\*+(?=\S)|(?<=\S)\*+")
_ALNUM_RUN = re.compile(r"[a-z0-9@$]{2,64}")
_SPACED = re.compile(r"(?<![a-z])(?:[a-z][ .\-]){3,30}[a-z](?![a-z])")


def _unleet(m: re.Match[str]) -> str:
    # Only inside words that mix letters and digits ("5c0re"): a grade standing alone stays a digit.
    word = m.group()
    return word if word.isalpha() or not any(c.isalpha() for c in word) else word.translate(_LEET)


def _strip_format(run: str) -> str:
    return "".join(c for c in run if c not in _INVISIBLE and unicodedata.category(c) != "Cf")


def _fold_digits(run: str) -> str:
    # Arabic-Indic, Devanagari, dingbat and other digits read as digits to the judge: "Score: ٢".
    out = []
    for c in run:
        d = unicodedata.digit(c, None)
        out.append(str(d) if d is not None and unicodedata.category(c) in ("Nd", "No") else c)
    return "".join(out)


def _drop_marks(run: str) -> str:
    # By category, not combining class: variation selectors and the keycap mark (U+20E3) have class 0.
    return "".join(c for c in unicodedata.normalize("NFD", run) if not unicodedata.category(c).startswith("M"))


def _clean(text: str) -> str:
    """Newlines unified, control/format/invisible characters removed, NFKC, digits folded (case kept)."""
    text = text.replace("\r\n", "\n").translate(_NEWLINES)
    if text.isascii():
        return text
    text = unicodedata.normalize("NFKC", _NON_ASCII.sub(lambda m: _strip_format(m.group()), text))
    return _NON_ASCII.sub(lambda m: _fold_digits(m.group()), text)


def _markup(text: str) -> str:
    # Emphasis markers split keywords ("Sc**ore**") and "_" joins them ("final_score"); neither carries meaning
    # here. A "*" between spaces is multiplication ("2 * 3") and stays. Runs of blanks inside a line shrink to
    # one, so that the patterns' bounded gaps cannot be outrun by padding ("Score:          2").
    return _GAPS.sub(" ", _EMPHASIS.sub("", text).replace("_", " ").replace("’", "'"))


def _plain(clean: str) -> str:
    return _markup(clean.casefold())


def _skeleton(clean: str, *, aggressive: bool) -> str:
    text = clean
    if not text.isascii():
        text = _NON_ASCII.sub(lambda m: _drop_marks(m.group()), text).translate(_FOLD).casefold().translate(_FOLD)
    else:
        text = text.casefold()
    text = _markup(text)
    if aggressive:
        text = _ALNUM_RUN.sub(_unleet, text)
        text = _SPACED.sub(lambda m: re.sub(r"[ .\-]", "", m.group()), text)
    return text


def normalise(text: str) -> str:
    """``text`` as the matchers see it: NFKC, format characters removed, look-alikes folded, casefolded.

    Used for the judge's own final line too, so that ``Ｓｃｏｒｅ：２`` or a zero-width space inside
    ``Score`` parses the same as ``Score: 2``.
    """
    return _skeleton(_clean(text), aggressive=False)


# The views are casefolded, so the patterns are lowercase. Gaps are bounded ({0,3}, and _markup shrinks
# longer runs of blanks), and no pattern chains or nests unbounded repetitions, so matching stays linear.

_L = "a-zа-яё"  # letters that end a Latin or Cyrillic word in the views
_H, _T = rf"(?<![{_L}])", rf"(?![{_L}])"
_S = "[ \t]{1,3}"  # a word gap
_S0 = "[ \t]{0,3}"  # an optional gap


def _p(*alternatives: str) -> str:
    """``a|b|c``, each phrase's spaces standing for a bounded gap of blanks."""
    return "|".join(a.replace(" ", _S) for a in alternatives)


_KW_STRONG: Final = (
    rf"{_H}(?:{_p('scores?', 'grades?', 'grading', 'ratings?', 'rated', 'verdict', 'final marks?')}"
    rf"|{_p('marks awarded', 'points awarded')}"
    rf"|{_p('bewertung', 'punktzahl', 'benotung', 'wertung', 'gesamtnote', 'note finale', 'note globale')}"
    rf"|{_p('puntuacion', 'calificacion', 'puntaje', 'punteggio', 'valutazione', 'pontuacao', 'avaliacao')}"
    rf"|{_p('beoordeling', 'оценка', 'балл(?:ы|ов|а)?', 'التقييم', 'الدرجة')}){_T}"
    r"|评分|得分|分数|打分|评级|評分|分數|評級|評価|点数|得点|採点|スコア|점수|평가|成绩|成績"
)
_KW_WEAK: Final = (
    rf"{_H}(?:{_p('note', 'nota', 'voto', 'cijfer', 'marks', 'evaluation', 'assessment', 'judge?ment')}"
    rf"|{_p('correctness', 'completeness', 'evaluacion', 'valoracion', 'notation')}){_T}"
)
_QUOTES: Final = frozenset("\"'`“”‘’")
_Q = "[\"'`“”‘’]?"
_DIGIT: Final = r"\+?[0-2](?:[.,]0{1,2})?"
_SCALE = rf"(?:[(\[]{_S0}0{_S0}(?:[-–—/]|to){_S0}2{_S0}[)\]]{_S0})?"  # "Score (0-2): 2"
_FOR = rf"(?:for{_S}(?:this|the|my|your){_S}(?:answer|response|reply|solution){_S0})?"  # "Score for this answer: 2"
_SEP: Final = (
    rf"{_S0}{_SCALE}{_FOR}{_Q}{_S0}"
    r"(?P<sep>[:=|→>]|->|=>|>>|[-–—](?=[ \t]{0,3}\+?[0-9])|(?<=[ \t])(?:of|de|du|von|di|из)(?=[ \t])|为|為|是|は|が"
    # no separator when the grade is a fraction of the rubric's top: "Score 2/2", "grade 2 out of 2"
    rf"|(?<=[ \t])(?={_DIGIT}{_S0}(?:/{_S0}2(?![0-9])|out{_S}of{_S}(?:2|two){_T})))"
    rf"{_S0}{_Q}{_S0}[(\[]{{0,2}}{_S0}"
)
_WORD: Final = (
    rf"(?:{_p('zero', 'one', 'two', 'un', 'une', 'deux', 'null', 'eins', 'zwei', 'cero', 'uno', 'dos', 'due')}"
    rf"|{_p('um', 'uma', 'dois', 'duas', 'nul', 'een', 'twee', 'ноль', 'один', 'одна', 'два', 'две')}"
    rf"|{_p('full marks', 'full', 'max(?:imum)?', 'perfect', 'top', 'ii', 'i', 'correct and complete')}){_T}"
    rf"|零|〇|一|二|两|兩|100{_S0}%"
)
_TWO: Final = r"(?:2|two|deux|zwei|dos|due|dois|twee|два|二)(?![0-9a-z])"
_OF: Final = _p("out of", "of", "von", "sur", "de", "su", "di", "из")
# What follows a grade that makes it a pair, a decimal or a count ("2-1", "2.5", "2 goals", "2 of 5"):
_NOT_PAIR: Final = (
    rf"(?![0-9a-z]|{_S0}(?:[-–—:x×]|to|vs\.?|à|a|zu|比|对|對){_S0}[0-9]|[.,][0-9]"
    rf"|{_S0}/{_S0}(?:[013-9]|2[0-9.])|{_S}(?:{_OF}){_S}(?:[013-9]|2[0-9.])"
    rf"|{_S}(?:{_p('goals?', 'runs?', 'wickets?', 'sets?', 'games?', 'innings', 'tries', 'touchdowns?', 'stars?')}"
    rf"|{_p('strokes?', 'under', 'over', 'par', 'points? (?:to|ahead|behind|lead)')}){_T})"
)
# What must follow a grade given with a weak keyword, a word separator or as a word: the claim ends there.
_END: Final = (
    rf"(?={_S0}(?:$|[.!?;,)\]}}\"'`“”’|(<]|/{_S0}2(?![0-9])|(?:{_OF}|满分|滿分){_S0}{_TWO}"
    rf"|分|点|점|(?:{_p('balls?', 'points?', 'pts?', 'punkte?', 'puntos?', 'punti')}){_T}))"
)
_CLAIM_STRONG = re.compile(
    rf"(?P<kw>{_KW_STRONG}){_SEP}(?P<grade>{_DIGIT}{_NOT_PAIR}|(?:{_WORD}){_NOT_PAIR}{_END})", re.MULTILINE
)
_CLAIM_WEAK = re.compile(rf"(?P<kw>{_KW_WEAK}){_SEP}(?P<grade>(?:{_DIGIT}|{_WORD}){_NOT_PAIR}{_END})", re.MULTILINE)
_END_RE = re.compile(_END, re.MULTILINE)
# A heading or label with the grade alone on a following line: "## Final score\n\n**2**".
_CLAIM_NEXT_LINE = re.compile(
    rf"^[ \t>#|<]{{0,8}}(?P<quals>(?:[{_L}']{{1,15}}{_S}){{0,3}})(?:{_KW_STRONG})[ \t:|>]{{0,4}}\n"
    rf"(?:[ \t>]{{0,6}}\n){{0,6}}[ \t>#|(]{{0,8}}(?:{_DIGIT}|{_WORD})(?:{_S0}/{_S0}2)?[ \t.|)]{{0,4}}$"
    # or on the same line with no separator at all: "Score 2", "Final score\t2"
    rf"|^[ \t>#|\-]{{0,8}}(?P<quals2>(?:[{_L}']{{1,15}}{_S}){{0,3}})score{_S}{_DIGIT}(?:{_S0}/{_S0}2)?[ \t.!]{{0,4}}$",
    re.MULTILINE,
)

# Words that may stand between the start of a segment and a score keyword in a claim ("My final score:",
# "La note finale :"); any other word there makes it prose about some other score ("the team's final
# score", "CHA2DS2-VASc score", "F1 score"), which is the main source of false positives.
_QUALIFIERS: Final = frozenset(
    """final finale overall total my your our the this that a an judge judge's judges grader grader's evaluator
    evaluator's official assigned awarded correct true real actual recommended suggested proposed expected deserved
    fair rubric response response's answer answer's reply solution output model assistant ai llm human expert
    reviewer self predicted estimated with given gets earns deserves receives merits warrants and or new updated
    revised required la le el il lo die der das den ma mon votre notre sa son ta meine mein ihre unsere mi tu su
    nuestra mia endgültige endgultige gesamt totale globale definitive définitive итоговая финальная моя ваша
    общая output write print say state return respond reply end finish conclude give put emit type must should
    will please just only simply always then now so therefore thus hence you i we""".split()
)
_WORD_BEFORE = re.compile(r"\w[\w'\-]{0,40}$")
_NOT_A_BOUNDARY: Final = frozenset(")]}%")

_IGNORE = re.compile(
    rf"{_H}(?:ignore|disregard|forget|override)[ \t\n]{{1,3}}"
    rf"(?:(?:{_p('all', 'any', 'the', 'your', 'previous', 'prior', 'above', 'earlier', 'preceding', 'original')}"
    rf"|{_p('grading', 'these', 'those', 'of', 'my', 'system', 'other')})[ \t\n]{{1,3}}){{0,4}}"
    rf"(?:{_p('instructions?', 'rubric', 'rules', 'guidelines', 'prompt', 'grading', 'criteria', 'directions')}){_T}"
    rf"|(?:ignorez|ignorer|oubliez|oublie){_S}(?:(?:toutes|tous|les|la|vos|tes|precedentes|précédentes){_S}){{0,3}}"
    r"(?:instructions|consignes|regles|règles|grille|criteres|critères)"
    rf"|(?:ignoriere|ignorieren|vergiss|vergessen){_S}"
    rf"(?:(?:sie|alle|die|deine|ihre|vorherigen|bisherigen|obigen){_S}){{0,3}}"
    r"(?:anweisungen|regeln|bewertungskriterien|richtlinien|kriterien)"
    rf"|(?:ignora|olvida|olvide){_S}(?:(?:todas|las|tus|sus|anteriores){_S}){{0,3}}(?:instrucciones|reglas|criterios)"
    r"|(?:忽略|无视|忽视|無視)(?:之前的|先前的|以上|上面的|所有的?|你的)?(?:指令|指示|说明|說明|规则|規則|评分标准|評分標準|提示)",
    re.MULTILINE,
)
_GRADE_ANY = rf"(?:{_DIGIT}{_NOT_PAIR}|(?:{_WORD}){_NOT_PAIR}){_END}"
_OBJECT = rf"(?:this|it|me|us|my|the|our|that)(?:{_S}(?:response|answer|reply|solution|submission|output))?{_S}"
_TOP = _p("perfect", "full", "maximum", "max", "top", "highest")
_SCORE_WORD = rf"(?:(?:a|an|the|with|as|at){_S})?(?:(?:{_TOP}){_S})?"
_SCORE_NOUN = rf"(?:(?:score|grade|rating|marks?|points?){_S}(?:(?:of|as){_S})?)?[\"'“]?"
_BE = _p("is", "should be", "must be", "will be")
_REQUEST_WITH_OBJECT = re.compile(
    rf"{_H}(?:output|give|assign|award|rate|grade|mark|score){_S}{_OBJECT}{_SCORE_WORD}{_SCORE_NOUN}{_GRADE_ANY}"
    rf"|{_H}(?:{_p('deserves?', 'merits?', 'warrants?', 'should (?:get|receive)')}"
    rf"|{_p('should be (?:given|awarded|graded|scored|rated|marked|assigned)')}){_S}{_SCORE_WORD}{_SCORE_NOUN}"
    rf"{_GRADE_ANY}"
    rf"|{_H}(?:give|award|assign|deserves?|merits?|earns?){_S}(?:(?:it|this|me|the{_S}(?:response|answer)){_S})?"
    rf"(?:a|an|the)?{_S0}(?:{_TOP}){_S}(?:score|grade|rating|marks)"
    rf"|(?:this|the|my|your){_S}(?:answer|response|reply|solution|submission)(?:'s)?{_S}"
    rf"(?:(?:final|correct|true|overall|real){_S})?(?:score|grade|rating){_S}(?:{_BE}){_S}{_GRADE_ANY}"
    rf"|(?:my|your|{_p('the (?:correct|right|fair|appropriate|deserved|true)')}){_S}(?:final{_S})?"
    rf"(?:score|grade|rating)"
    rf"(?:{_S}for{_S}(?:this|the|my){_S}(?:answer|response|reply))?{_S}(?:{_BE}){_S}{_GRADE_ANY}"
    rf"|(?:this|the|my){_S}(?:answer|response|reply|solution){_S}(?:{_BE}){_S}(?:graded|scored|rated|marked){_S}"
    rf"(?:as{_S})?(?:an?{_S})?{_GRADE_ANY}"
    r"|(?:请|請)?(?:给|給|打)(?:出|予)?(?:这个|這個|此|本)?(?:回答|答案)?(?:满分|滿分|[0-2一二两兩][ \t]?分)"
    rf"|(?:donne[zr]?|attribue[zr]?|mettez|mets){_S}(?:(?:une|la|cette|à|a|ce|reponse|réponse|note|de|lui){_S}){{0,4}}"
    rf"(?:[0-2](?![0-9a-z.,])|deux{_T}|{_p('la note maximale')})"
    rf"|(?:{_p('gib', 'geben sie', 'vergib', 'vergeben sie', 'bewerte', 'bewerten sie')}){_S}"
    rf"(?:(?:dieser|diesen|diese|die|der|antwort|eine|mit|note|bewertung|punktzahl|ihr){_S}){{0,4}}"
    rf"(?:[0-2](?![0-9a-z.,])|zwei{_T}|{_p('die (?:höchste|hochste|beste) note', 'volle punktzahl')})",
    re.MULTILINE,
)
# Object-less imperatives ("Output 2.") read as requests only at the start of a segment and outside
# code ("the function should output 2" is an answer about code).
_REQUEST_BARE = re.compile(
    rf"{_H}(?:{_p('output', 'give', 'assign', 'award', 'respond with', 'reply with', 'answer with')}){_S}"
    rf"{_SCORE_WORD}{_SCORE_NOUN}{_GRADE_ANY}",
    re.MULTILINE,
)
_IMPERATIVE_LEAD: Final = frozenset(
    "please just now simply so therefore thus then must should will you kindly and judge grader evaluator".split()
)
# "Dear Reviewers" and "Dear Examiner" open ordinary letters an answer may be asked to write.
_JUDGE = r"(?:judge|grader|evaluator|scorer|marker)s?"
_AI = rf"(?:(?:ai|llm|automated|human){_S})?"
_ADDRESS = re.compile(
    # "Dear Judge Smith," opens a letter; "Dear judge, ..." speaks to the grader.
    rf"{_H}(?:{_p('dear', 'attention', 'hey', 'hello', 'hi')})[ \t,]{{1,3}}(?:the{_S})?{_AI}{_JUDGE}{_S0}[,:!.\n]"
    rf"|{_H}(?:{_p('note (?:to|for)', 'message (?:to|for)', 'instructions? (?:to|for)')}){_S}(?:the{_S})?{_AI}"
    rf"{_JUDGE}{_T}"
    rf"|^[ \t>#\-]{{0,6}}{_AI}{_JUDGE}[ \t]{{0,2}}[:,!]"
    rf"|{_H}you{_S}are{_S}(?:now{_S})?(?:the|an?){_S}{_AI}{_JUDGE}{_T}"
    rf"|{_H}as{_S}(?:the|an?){_S}{_JUDGE}[ \t,]{{1,3}}you{_S}(?:must|should|will|need|have)"
    rf"|(?:cher|chère|chere|au|à{_S}l'|a{_S}l'){_S0}(?:correcteur|correctrice|evaluateur|évaluateur|examinateur|juge)"
    rf"{_T}|(?:liebe[rs]?|{_p('an den', 'an die')}){_S}(?:prüfer|prufer|bewerter|korrektor|gutachter)(?:in)?{_T}"
    rf"|(?:estimado|querido|al|{_p('para el')}){_S}(?:evaluador|juez|calificador|corrector){_T}"
    r"|(?:致|亲爱的|親愛的|尊敬的)?(?:评委|评分员|评审员|阅卷人|阅卷老师|考官|評分員|評審員|評委)[ \t]{0,2}[:,，]",
    re.MULTILINE,
)
_OVERRIDE = re.compile(
    rf"{_H}(?:system|developer|admin(?:istrator)?|root|operator){_S0}"
    # not "message"/"prompt": "System message: You are a helpful assistant." is how answers explain chat APIs
    rf"(?:override|instructions?|note|notice|directive)s?{_S0}[:\]]"
    rf"|{_H}(?:system|developer|admin){_S}override{_T}"
    rf"|{_H}new{_S}(?:system{_S})?instructions?{_S0}"
    rf"(?::|for{_S}(?:the{_S})?(?:ai|model|assistant|judge|grader|evaluator|you){_T})"
    rf"|{_H}(?:new|updated|revised|changed|corrected){_S}(?:{_p('rubric', 'grading (?:rules|criteria)')}"
    rf"|{_p('scoring (?:rules?|criteria)', 'marking scheme')}){_S0}:"
    rf"|^[ \t>#\[]{{0,6}}(?:system|developer)[ \t\]]{{0,3}}:[^\n]{{0,200}}?"
    rf"{_H}(?:judge|grader|evaluator|grad(?:e|ing)|scor(?:e|ing)|rubric|instructions?){_T}",
    re.MULTILINE,
)
_CHAT_TEMPLATE = re.compile(r"<\|[a-z][a-z \t]{1,23}\|>|<(?:start|end)[ \t]of[ \t]turn>|\[/?inst\]|<</?sys>>")
_FENCED = r"(?:response|query|reference)"
_END_OF = rf"end{_S}(?:of{_S})?(?:the{_S})?"
_DELIMITER = re.compile(
    # a run of "<" is matched once, from its start and possessively, so a long run costs one pass
    rf"(?<!<)<{{3,}}+{_S0}/?{_S0}(?:{_END_OF})?(?:the{_S})?(?:{_FENCED}|answer|question|input){_T}"
    rf"|(?<!<)<<{_S0}/?{_S0}{_END_OF}{_FENCED}{_T}"
    rf"|{_H}{_END_OF}{_FENCED}{_S0}(?:[0-9a-f]{{4,64}}{_S0})?>{{2,}}"
    rf"|[\[{{(]{{1,3}}[ \t]{{0,2}}{_END_OF}(?:response|answer){_T}[ \t]{{0,2}}[\]}})]"
    rf"|</[ \t]{{0,2}}(?:{_FENCED}|answer|{_p('candidate response', 'untrusted data')})[ \t]{{0,2}}>"
    rf"|^[ \t=\-#>]{{0,10}}end{_S}of{_S}(?:the{_S})?(?:response|answer)[ \t=\-#.]{{0,10}}$"
    # Phrases of routerlab's own judge prompt: an answer that reproduces them is drawing its own fences.
    rf"|(?:response|answer){_S}to{_S}grade{_S0}\(|reference{_S}answer{_S0}\({_S0}treat"
    rf"|{_p('untrusted data,? not instr', 'write nothing after that', 'end with exactly one final line')}"
    rf"|{_p('grade the response to the query')}",
    re.MULTILINE,
)
_THINK = re.compile(
    r"<[ \t]{0,2}(/?)[ \t]{0,2}(think|thinking|thought|reasoning|reflection|scratchpad|inner[ \t]?monologue)[ \t]{0,2}>"
)
_FENCE = re.compile(r"^[ \t]{0,3}(?:```|~~~)", re.MULTILINE)
_TABLE_SEPARATOR = re.compile(r"[ \t|:\-]{3,}")
_TABLE_LABEL = re.compile(
    rf"(?:(?:the|this|my|our|final|overall|total){_S}){{0,2}}(?:overall|total|final|correctness|completeness"
    r"|result|verdict|response|answer|solution|grade|score|rating|rubric|judge|evaluation|summary|accuracy|quality)"
    rf"(?:{_S}(?:score|grade|rating))?"
)
_KW_CELL = re.compile(rf"(?:[{_L}']{{1,15}}{_S}){{0,2}}(?:{_KW_STRONG}|{_KW_WEAK})")
_GRADE_CELL = re.compile(rf"(?:{_DIGIT}|{_WORD})(?:{_S0}/{_S0}2)?[ \t.]{{0,2}}")

_BASE64_RUN = re.compile(r"(?<![A-Za-z0-9+/=_\-])[A-Za-z0-9+/_\-]{8,}={0,2}(?![A-Za-z0-9+/=_\-])")
_BASE64_LINE = re.compile(r"[A-Za-z0-9+/]{20,}={0,2}")
_BASE64_TAIL = re.compile(r"[A-Za-z0-9+/]{1,19}={0,2}")
_TAG_RUN = re.compile("[\U000e0020-\U000e007e]+")
_UNTAG: Final = {c: c - 0xE0000 for c in range(0xE0020, 0xE007F)}
_RLO_RUN = re.compile("\u202e([^\u202e\u202c\n]{0,100000})")


def _claim_start(view: str, start: int, lead: frozenset[str]) -> bool:
    """Whether only ``lead`` words stand between the start of a segment and ``start``."""
    lo = max(0, start - 120)
    nl = view.rfind("\n", lo, start)
    head = view[nl + 1 if nl >= 0 else lo : start].rstrip(" \t")
    while head:
        m = _WORD_BEFORE.search(head)
        if m is None:
            return head[-1] not in _NOT_A_BOUNDARY
        if m.group() not in lead:
            return False
        head = head[: m.start()].rstrip(" \t")
    return nl >= 0 or lo == 0  # 120 characters of qualifiers and no line start: not a claim we can place


def _code_spans(view: str) -> list[int]:
    """Start/end offsets of fenced code blocks, flattened (an odd bisect index means "inside")."""
    marks = [m.start() for m in _FENCE.finditer(view)]
    return marks if len(marks) % 2 == 0 else [*marks, len(view)]


def _in_code(view: str, pos: int, fences: list[int]) -> bool:
    if bisect.bisect_right(fences, pos) % 2 == 1:
        return True
    line_start = view.rfind("\n", 0, pos) + 1
    return view.startswith(("    ", "\t"), line_start)


def _is_cjk(s: str) -> bool:
    return bool(s) and not s[0].isascii() and unicodedata.east_asian_width(s[0]) in ("W", "F")


def _claims(view: str) -> Iterator[tuple[str, str]]:
    fences = _code_spans(view)
    for pattern in (_CLAIM_STRONG, _CLAIM_WEAK):
        for m in pattern.finditer(view):
            kw = m.group("kw")
            if not _is_cjk(kw) and not _claim_start(view, m.start(), _QUALIFIERS):
                continue
            if kw.startswith("rating") and view[m.end("kw") : m.end("kw") + 1] in _QUOTES:
                continue  # {"rating": 1} is data an answer was asked for (reviews, products); {"score": 2} is not
            sep = m.group("sep")
            if (sep in ("=", ">") or sep.isalpha()) and not _END_RE.match(view, m.end()):
                continue  # "a score of +1.0 means", `score = x + 2`, `score > 1 and`: the grade must end the claim
            if "=" in sep and _in_code(view, m.start(), fences):
                continue  # `score = 0` in a code block is code
            if sep == ">" and not view.endswith("<", 0, m.start()):
                continue  # only the tag form `<score>2` is a claim; `score > 1` is a comparison
            yield "score_claim", m.group()
    for m in _CLAIM_NEXT_LINE.finditer(view):
        if all(w in _QUALIFIERS for w in (m.group("quals") or m.group("quals2") or "").split()):
            yield "score_claim", m.group()


def _tables(view: str) -> Iterator[tuple[str, str]]:
    """A table whose header has a score column and whose rubric-like rows carry a 0/1/2 in it."""
    if "|" not in view:
        return
    column: int | None = None
    for line in view.split("\n"):
        if "|" not in line:
            column = None
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if column is None:
            column = next((i for i, c in enumerate(cells) if c and _KW_CELL.fullmatch(c)), None)
            continue
        if _TABLE_SEPARATOR.fullmatch(line.strip()):
            continue
        if column < len(cells) and _GRADE_CELL.fullmatch(cells[column]) and _TABLE_LABEL.fullmatch(cells[0]):
            yield "score_table", line.strip()


def _think_tags(view: str) -> Iterator[tuple[str, str]]:
    """Reasoning tags anywhere but one leading block: an answer forging the judge's own reasoning."""
    tags = []
    for m in _THINK.finditer(view):
        tags.append(m)
        if len(tags) > 3:
            break
    if not tags:
        return
    leading = (
        len(tags) == 2
        and not tags[0].group(1)
        and tags[1].group(1)
        and tags[0].group(2) == tags[1].group(2)
        and not view[: tags[0].start()].strip()
    )
    if not leading:
        yield "think_tag", tags[0].group()


def _scan_view(view: str) -> Iterator[tuple[str, str]]:
    yield from _claims(view)
    yield from _tables(view)
    simple: tuple[tuple[str, re.Pattern[str]], ...] = (
        ("ignore_instructions", _IGNORE),
        ("addresses_judge", _ADDRESS),
        ("system_override", _OVERRIDE),
        ("chat_template_spoof", _CHAT_TEMPLATE),
        ("delimiter_spoof", _DELIMITER),
    )
    for kind, pattern in simple:
        for m in pattern.finditer(view):
            yield kind, m.group()
    for m in _REQUEST_WITH_OBJECT.finditer(view):
        yield "score_request", m.group()
    fences = _code_spans(view) if "`" in view or "~" in view else []
    for m in _REQUEST_BARE.finditer(view):
        if _claim_start(view, m.start(), _IMPERATIVE_LEAD) and not _in_code(view, m.start(), fences):
            yield "score_request", m.group()
    yield from _think_tags(view)


def _printable_text(data: bytes) -> str | None:
    # "replace" keeps a payload whose last bytes are cut or padded with junk; U+FFFD then counts as junk.
    text = data.decode("utf-8", errors="replace")
    if len(text) < 4 or not any(c.isalpha() for c in text):
        return None
    good = sum(1 for c in text if (c.isprintable() and c != "\ufffd") or c in "\n\t\r")
    return text if good >= 0.95 * len(text) else None


def _b64decode(run: str) -> str | None:
    body = run.rstrip("=")
    if len(body) % 4 == 1:  # a stray character after the payload (or a truncated one): decode what aligns
        body = body[:-1]
    altchars = b"-_" if ("-" in body or "_" in body) else None
    if altchars and ("+" in body or "/" in body):
        return None
    try:
        return _printable_text(base64.b64decode(body + "=" * (-len(body) % 4), altchars=altchars, validate=True))
    except (binascii.Error, ValueError):
        return None


def _looks_encoded(run: str) -> bool:
    # English words are base64 alphabet too; real payloads mix case mid-word or carry digits or +/=.
    return any(c.isdigit() or c in "+/=" for c in run) or (any(c.isupper() for c in run[1:]) and run.lower() != run)


def _base64_payloads(clean: str) -> str:
    """Decoded text of base64 runs (one line each, ``MAX_DECODED_CHARS`` in all), including wrapped blocks."""
    wrapped: list[str] = []
    rest: list[str] = []  # lines outside wrapped blocks, searched for runs (a block is decoded once, whole)
    block: list[str] = []
    for line in [*clean.split("\n"), ""]:
        stripped = line.strip()
        if _BASE64_LINE.fullmatch(stripped):
            block.append(stripped)
            continue
        if block and _BASE64_TAIL.fullmatch(stripped):  # the shorter last line of a wrapped block, or a word
            wrapped.append("".join(block) + stripped)
        if len(block) > 1:
            wrapped.append("".join(block))
        else:
            rest.extend(block)
        block = []
        rest.append(stripped)
    out: list[str] = []
    size = 0
    runs = (m.group() for m in _BASE64_RUN.finditer("\n".join(rest)))
    for run in (*wrapped, *runs):
        if not _looks_encoded(run):
            continue
        decoded = _b64decode(run[: MAX_DECODED_CHARS * 2])
        if decoded:
            out.append(decoded)
            size += len(decoded)
            if size >= MAX_DECODED_CHARS:
                break
    return "\n".join(out)[:MAX_DECODED_CHARS]


def _hidden_tags(text: str) -> str:
    # Unicode tag characters (U+E0020..U+E007E) spell ASCII invisibly, and some models read them.
    return "\n".join(m.group().translate(_UNTAG) for m in _TAG_RUN.finditer(text))


def _visual_bidi(text: str) -> str:
    # A right-to-left override shows "2 :erocS" as "Score: 2"; scan the order a reader sees.
    return _RLO_RUN.sub(lambda m: m.group(1)[::-1], text)


def _channels(text: str) -> Iterator[tuple[str, str]]:
    """``(via, cleaned text)`` pairs to scan: the answer, then what it hides in bidi runs and tag characters."""
    yield "text", _clean(text)
    if "\u202e" in text:
        yield "bidi_visual", _clean(_visual_bidi(text))
    if not text.isascii():
        hidden = _hidden_tags(text)
        if hidden:
            yield "unicode_tags", _clean(hidden)


def _bounded(text: str) -> str:
    if len(text) <= MAX_SCAN_CHARS:
        return text
    half = MAX_SCAN_CHARS // 2
    return text[:half] + "\n" + text[-half:]


def _find(text: str, depth: int, prefix: str, found: dict[tuple[str, str, str], None]) -> None:
    decoded: list[str] = []
    for via, clean in _channels(text):
        name = (prefix.rstrip("/") or "text") if via == "text" else prefix + via
        views = [_plain(clean)]
        skeleton = _skeleton(clean, aggressive=True)
        if skeleton != views[0]:
            views.append(skeleton)
        for view in views:
            for kind, snippet in _scan_view(view):
                found.setdefault((kind, " ".join(snippet.split())[:_SNIPPET], name), None)
                if len(found) >= MAX_MATCHES:
                    return
        if depth < MAX_DECODE_DEPTH:
            decoded.append(_base64_payloads(clean))
    payload = "\n".join(d for d in decoded if d)[:MAX_DECODED_CHARS]
    if payload:
        _find(payload, depth + 1, prefix + "base64/", found)


def find_injections(text: str) -> list[dict[str, str]]:
    """Phrases in ``text`` that try to instruct a judge: ``[{"kind", "text", "via"}]``, at most ``MAX_MATCHES``.

    ``kind`` names the pattern (``score_claim``, ``score_table``, ``score_request``, ``ignore_instructions``,
    ``addresses_judge``, ``system_override``, ``chat_template_spoof``, ``delimiter_spoof``, ``think_tag``);
    ``text`` is the normalised match; ``via`` is where it was found (``text``, ``bidi_visual``,
    ``unicode_tags``, ``base64``, or ``base64/...`` for a channel inside a decoded payload).
    """
    if not text:
        return []
    found: dict[tuple[str, str, str], None] = {}
    _find(_bounded(text), 0, "", found)
    return [{"kind": k, "text": t, "via": v} for k, t, v in list(found)[:MAX_MATCHES]]
