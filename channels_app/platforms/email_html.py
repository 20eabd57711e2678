"""E-mail HTML bodies: sanitised for the inbox, quoted history trimmed, and
read as plain text when a message has no text part.

Sanitising is nh3 (ammonia): only its default safe tags and attributes stay;
scripts and styles go with their content, event handlers and `style`
attributes go, links keep http(s)/mailto URLs only (as the rest of the inbox)
and open in a new tab with `rel="noopener noreferrer"`; an image may also
name an inline part by `cid:` (RFC 2392), which the inbox shows from the
stored attachment (`html_hold_remote_images`), a link may not.
    https://nh3.readthedocs.io/
Quoted history is recognised by the markers the common clients write: Gmail's
`gmail_quote`, Apple Mail's and Thunderbird's `<blockquote type="cite">` and
`moz-cite-prefix`, Yahoo's `yahoo_quoted`, and Outlook's `appendonsend` /
`divRplyFwdMsg` / `OLK_SRC_BODY_SECTION`, after which everything is history;
signatures by Gmail's `gmail_signature`, Thunderbird's `moz-signature`,
Outlook's `Signature` / `ms-outlook-mobile-signature` and Apple Mail's
`AppleMailSignature`.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from html.parser import HTMLParser
from urllib.parse import unquote

import nh3

URL_SCHEMES = frozenset({"http", "https", "mailto"})
VOID_TAGS = frozenset(
    {"area", "br", "col", "embed", "hr", "img", "input", "source", "track", "wbr"}
)
# Elements holding quoted history or the signature (removed with their
# content; the text's signature is shown folded, see `email_reply`).
QUOTE_CLASSES = frozenset(
    {
        "gmail_quote", "gmail_quote_container", "moz-cite-prefix", "yahoo_quoted",
        "gmail_signature", "moz-signature",
    }
)  # fmt: skip
SIGNATURE_IDS = frozenset(
    {"ms-outlook-mobile-signature", "Signature", "AppleMailSignature"}
)
# Elements after which the rest of the body is quoted history (Outlook).
HISTORY_IDS = frozenset({"appendonsend", "divRplyFwdMsg", "OLK_SRC_BODY_SECTION"})
BLOCK_TAGS = frozenset(
    {
        "address", "article", "aside", "blockquote", "dd", "div", "dl", "dt",
        "figcaption", "figure", "footer", "h1", "h2", "h3", "h4", "h5", "h6",
        "header", "hr", "li", "ol", "p", "pre", "section", "table", "tr", "ul",
    }
)  # fmt: skip


def _clean(body: str, *, keep_markers: bool) -> str:
    attributes = {tag: set(names) for tag, names in nh3.ALLOWED_ATTRIBUTES.items()}
    if keep_markers:
        # Kept only for the trimming pass; the final pass drops them.
        attributes["*"] = {"class", "id"}
        attributes.setdefault("blockquote", set()).add("type")
    return nh3.clean(
        body,
        tags=nh3.ALLOWED_TAGS,
        attributes=attributes,
        attribute_filter=_no_cid_outside_images,
        url_schemes={*URL_SCHEMES, "cid"},
        link_rel="noopener noreferrer",
        set_tag_attribute_values={
            "a": {"target": "_blank"},
            # Remote images load without telling the sender the inbox's URL.
            "img": {"referrerpolicy": "no-referrer"},
        },
    )


def _no_cid_outside_images(tag: str, attribute: str, value: str) -> str | None:
    """nh3 attribute filter: `cid:` names an inline part for `<img src>` only."""
    if value.strip().lower().startswith("cid:") and (tag, attribute) != ("img", "src"):
        return None
    return value


def _start_tag(tag: str, attrs: list[tuple[str, str | None]]) -> str:
    rendered = "".join(
        f' {name}="{html.escape(value)}"' for name, value in attrs if value is not None
    )
    return f"<{tag}{rendered}>"


class _QuoteTrimmer(HTMLParser):
    """Re-emit well-formed (already sanitised) HTML without quoted history and
    without images that lost their source."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skip_depth = 0
        self.stopped = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.stopped:
            return
        if self.skip_depth:
            if tag not in VOID_TAGS:
                self.skip_depth += 1
            return
        found = dict(attrs)
        if found.get("id") in HISTORY_IDS:
            self.stopped = True
            return
        classes = set((found.get("class") or "").split())
        quoted = (
            bool(classes & QUOTE_CLASSES)
            or found.get("id") in SIGNATURE_IDS
            or (tag == "blockquote" and (found.get("type") or "").lower() == "cite")
        )
        if quoted and tag not in VOID_TAGS:
            self.skip_depth = 1
            return
        if tag == "img" and not found.get("src"):
            return
        self.parts.append(_start_tag(tag, attrs))

    def handle_endtag(self, tag: str) -> None:
        if self.stopped or tag in VOID_TAGS:
            return
        if self.skip_depth:
            self.skip_depth -= 1
            return
        self.parts.append(f"</{tag}>")

    def handle_data(self, data: str) -> None:
        if not (self.stopped or self.skip_depth):
            self.parts.append(html.escape(data, quote=False))


def _trim(sanitised: str) -> str:
    trimmer = _QuoteTrimmer()
    trimmer.feed(sanitised)
    trimmer.close()
    return "".join(trimmer.parts)


def _shows_something(fragment: str) -> bool:
    return bool(html_to_text(fragment).strip()) or "<img" in fragment


def html_sanitise(body: str, *, trim_quotes: bool = True) -> str:
    """Return `body` (an e-mail's HTML) safe to show in the inbox, with quoted
    history removed (unless `trim_quotes` is false, e.g. for a forwarded
    message); when the trim would leave nothing, the whole sanitised body is
    kept. An empty result means the body shows nothing."""
    if trim_quotes:
        marked = _clean(body, keep_markers=True)
        trimmed = _clean(_trim(marked), keep_markers=False).strip()
        if _shows_something(trimmed):
            return trimmed
    whole = _clean(body, keep_markers=False).strip()
    return whole if _shows_something(whole) else ""


def html_without_line(sanitised: str, line: str) -> str:
    """`sanitised` (output of `html_sanitise`) without the last `<div>` or
    `<p>` holding nothing but `line` (e.g. the "Sent from my iPhone" that
    Apple Mail writes with no marker, shown folded from the text instead);
    unchanged when there is none, or when nothing else would be left."""
    block = re.compile(
        r"<(div|p)>\s*" + re.escape(html.escape(line, quote=False)) + r"\s*</\1>"
    )
    found = list(block.finditer(sanitised))
    if not found:
        return sanitised
    last = found[-1]
    rest = (sanitised[: last.start()] + sanitised[last.end() :]).strip()
    return rest if _shows_something(rest) else sanitised


# Where a held-back remote image keeps its address, and the PingBack link that
# loads it (see `html_hold_remote_images`).
REMOTE_IMAGE_ATTRIBUTE = "data-remote-src"
PROXY_IMAGE_ATTRIBUTE = "data-proxy-src"


class _RemoteImageHolder(HTMLParser):
    """Re-emit sanitised HTML with every `<img src>` taken out, but inline
    (`cid:`) images pointed at their stored part or left out."""

    def __init__(
        self,
        proxy: Callable[[str], str] | None,
        inline: Callable[[str], str | None] | None,
    ) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.remote: list[str] = []
        self.proxy = proxy
        self.inline = inline

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "img":
            src = (dict(attrs).get("src") or "").strip()
            attrs = [(name, value) for name, value in attrs if name != "src"]
            if src.lower().startswith("cid:"):
                link = self.inline(cid_key(src[4:])) if self.inline else None
                if link is None:
                    return
                attrs = [("src", link), *attrs, ("class", "inline-image")]
            elif src.lower().startswith(("http://", "https://")):
                attrs.append((REMOTE_IMAGE_ATTRIBUTE, src))
                if self.proxy is not None:
                    attrs.append((PROXY_IMAGE_ATTRIBUTE, self.proxy(src)))
                attrs.append(("class", "remote-image"))
                self.remote.append(src)
        self.parts.append(_start_tag(tag, attrs))

    def handle_endtag(self, tag: str) -> None:
        if tag not in VOID_TAGS:
            self.parts.append(f"</{tag}>")

    def handle_data(self, data: str) -> None:
        self.parts.append(html.escape(data, quote=False))


def cid_key(content_id: str) -> str:
    """A Content-ID as `cid:` URLs and `Content-ID` headers are matched:
    percent-decoded (RFC 2392 §2), without angle brackets, lower-cased."""
    return unquote(content_id).strip().strip("<>").strip().lower()


def html_hold_remote_images(
    sanitised: str,
    *,
    proxy: Callable[[str], str] | None = None,
    inline: Callable[[str], str | None] | None = None,
) -> tuple[str, list[str]]:
    """Return `(html, remote)`: `sanitised` (output of `html_sanitise`) with no
    image that loads anything, and the `http(s)` image URLs it held back, in
    order.

    An e-mail's remote images are often tracking pixels: loading one tells the
    sender who read the message, when, and from where. Each `<img>` loses its
    `src`; an `http(s)` one keeps it in `data-remote-src` with class
    `remote-image`, for the inbox to load through PingBack when the agent asks
    (other sources, e.g. relative paths, are dropped). `proxy(url)`, when
    given, names the link that loads it, kept in `data-proxy-src`.

    An inline image (`cid:<id>`) loads from PingBack: `inline(cid_key(id))`
    gives the link of the stored part with that Content-ID (class
    `inline-image`); when it gives None (no such part, or not stored yet),
    or no `inline` is given, the image is left out rather than shown
    broken."""
    holder = _RemoteImageHolder(proxy, inline)
    holder.feed(sanitised)
    holder.close()
    return "".join(holder.parts), holder.remote


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style", "head", "title"):
            self.hidden += 1
        elif tag == "br":
            self.parts.append("\n")
        elif tag in BLOCK_TAGS:
            self.parts.append("\n\n" if tag == "p" else "\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style", "head", "title"):
            self.hidden = max(0, self.hidden - 1)
        elif tag in BLOCK_TAGS:
            self.parts.append("\n\n" if tag == "p" else "\n")

    def handle_data(self, data: str) -> None:
        if not self.hidden:
            self.parts.append(re.sub(r"\s+", " ", data))


def html_to_text(body: str) -> str:
    """The readable text of an HTML body: block elements and `<br>` become line
    breaks, runs of whitespace one space, scripts and styles nothing."""
    extractor = _TextExtractor()
    extractor.feed(body)
    extractor.close()
    lines = [line.strip() for line in "".join(extractor.parts).splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
