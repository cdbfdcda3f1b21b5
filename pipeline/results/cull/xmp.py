"""XMP sidecars that mark a photo rejected in the photo managers people use (docs/cull.md says which
field each one reads):

- `xmp:Rating -1`: rejected in darktable (and Lightroom Classic, Immich read the rating);
- `digiKam:PickLabel 1`: rejected in digiKam, whose rating reader ignores -1;
- a colour label by name, `xmp:Label` (darktable, Lightroom, digiKam) and by number,
  `digiKam:ColorLabel`, `darktable:colorlabels`;
- keywords saying why: "Blurry" and "Blurry/<type>" (the job's verdict), "Burst" and "Burst/not best" (a
  frame of a burst that is not its best), "Review" and "Review/rejected" (a person's reject in the review
  page): `dc:subject`, `lr:hierarchicalSubject`, `digiKam:TagsList`.

An existing sidecar (every photo darktable imported has one) is merged into: its other fields stay as
they are, ours are set. The DOM keeps the document's own prefixes and layout, so a darktable history
or a Lightroom develop setting comes out as it went in.
"""

from __future__ import annotations

from xml.dom import Node, minidom

RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
XMP = "http://ns.adobe.com/xap/1.0/"
DC = "http://purl.org/dc/elements/1.1/"
LR = "http://ns.adobe.com/lightroom/1.0/"
DIGIKAM = "http://www.digikam.org/ns/1.0/"
DARKTABLE = "http://darktable.sf.net/"
XML = "http://www.w3.org/XML/1998/namespace"
PREFIXES = {XMP: "xmp", DC: "dc", LR: "lr", DIGIKAM: "digiKam", DARKTABLE: "darktable", RDF: "rdf"}

KEYWORD = "Blurry"
REASON_KEYWORDS = {"burst": ("Burst", "not best"), "rejected": ("Review", "rejected")}
"""The keyword and its child for each reason other than "blurry" (whose child is the blur type)."""
COLOUR_LABELS = {"Red": (1, 0), "Yellow": (3, 1), "Green": (4, 2), "Blue": (5, 3), "Purple": (6, 4)}
"""The colour names darktable and Lightroom Classic both show (digiKam reads them too, Purple as its
Magenta): name -> (digiKam:ColorLabel, darktable:colorlabels index)."""
DEFAULT_LABEL = "Red"
MAX_SIDECAR_BYTES = 16 * 1024 * 1024

EMPTY = """<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about=""/>
 </rdf:RDF>
</x:xmpmeta>
<?xpacket end="w"?>
"""

_REPLACED = [(XMP, "Rating"), (XMP, "Label"), (DIGIKAM, "PickLabel"), (DIGIKAM, "ColorLabel"),
             (DARKTABLE, "colorlabels")]  # fmt: skip


class NotASidecar(ValueError):
    """An existing file at the sidecar's name that is not XMP: left alone."""


def _elements(node) -> list:
    return [child for child in node.childNodes if child.nodeType == Node.ELEMENT_NODE]


def _prefix(description, namespace: str) -> str:
    """The prefix bound to `namespace` where `description` sits, declaring ours on it if none is."""
    bound: dict[str, str] = {}
    node = description
    while node is not None and node.nodeType == Node.ELEMENT_NODE:
        for name, value in node.attributes.items():
            if name.startswith("xmlns:"):
                bound.setdefault(name[len("xmlns:") :], value)
        node = node.parentNode
    for prefix, uri in bound.items():
        if uri == namespace:
            return prefix
    prefix, n = PREFIXES[namespace], 1
    while prefix in bound:
        prefix, n = f"{PREFIXES[namespace]}{n}", n + 1
    description.setAttributeNS("http://www.w3.org/2000/xmlns/", f"xmlns:{prefix}", namespace)
    return prefix


def _add(doc, description, namespace: str, name: str, text: str | None = None):
    element = doc.createElementNS(namespace, f"{_prefix(description, namespace)}:{name}")
    if text is not None:
        element.appendChild(doc.createTextNode(text))
    description.appendChild(element)
    return element


def _list_values(doc, descriptions: list, namespace: str, name: str, kind: str, values: list[str]) -> None:
    """Add `values` to the list property (rdf:Bag or rdf:Seq) `namespace:name`, keeping its items."""
    for description in descriptions:
        for element in _elements(description):
            if element.namespaceURI == namespace and element.localName == name:
                containers = [e for e in _elements(element) if e.namespaceURI == RDF]
                container = containers[0] if containers else _add(doc, element, RDF, kind)
                present = {"".join(t.data for t in li.childNodes if t.nodeType == Node.TEXT_NODE)
                           for li in _elements(container)}  # fmt: skip
                for value in values:
                    if value not in present:
                        _add(doc, container, RDF, "li", value)
                return
    container = _add(doc, _add(doc, descriptions[0], namespace, name), RDF, kind)
    for value in values:
        _add(doc, container, RDF, "li", value)


def mark_rejected(
    existing: bytes | None,
    blur_type: str,
    blur_probability: float,
    model_version: str | None = None,
    label: str | None = DEFAULT_LABEL,
    reasons: tuple[str, ...] = ("blurry",),
) -> bytes:
    """The sidecar marking a photo rejected, with a keyword for each of `reasons` ("blurry", "burst",
    "rejected"): `existing` (a sidecar's bytes) with our fields set and its others kept, or a new one
    when None. Raises NotASidecar for bytes that are not XMP. Marking a sidecar cull has marked gives the
    same bytes, so a rerun sees it is done."""
    once = _mark(existing, blur_type, blur_probability, model_version, label, reasons)
    # A parsed document lists its namespace declarations first: the second pass settles the order.
    return _mark(once, blur_type, blur_probability, model_version, label, reasons)


def _keywords(blur_type: str, reasons: tuple[str, ...]) -> list[tuple[str, str]]:
    """(keyword, child) per reason; a photo chosen for no reason we know is still marked Blurry, as
    before reasons existed."""
    found = [
        (KEYWORD, blur_type or "blurry") if reason == "blurry" else REASON_KEYWORDS[reason]
        for reason in reasons
        if reason == "blurry" or reason in REASON_KEYWORDS
    ]
    return found or [(KEYWORD, blur_type or "blurry")]


def _mark(
    existing: bytes | None,
    blur_type: str,
    blur_probability: float,
    model_version: str | None = None,
    label: str | None = DEFAULT_LABEL,
    reasons: tuple[str, ...] = ("blurry",),
) -> bytes:
    try:
        doc = minidom.parseString(existing if existing is not None else EMPTY.encode())
    except Exception as error:  # expat's errors and a refused entity expansion alike
        raise NotASidecar(f"not XML ({error})") from error
    rdfs = doc.getElementsByTagNameNS(RDF, "RDF")
    if not rdfs:
        raise NotASidecar("no rdf:RDF in it")
    descriptions = [e for e in _elements(rdfs[0]) if e.namespaceURI == RDF and e.localName == "Description"]
    if not descriptions:
        description = _add(doc, rdfs[0], RDF, "Description")
        description.setAttributeNS(RDF, f"{_prefix(description, RDF)}:about", "")
        descriptions = [description]
    for description in descriptions:
        for namespace, name in _REPLACED:
            if description.hasAttributeNS(namespace, name):
                description.removeAttributeNS(namespace, name)
            for element in _elements(description):
                if element.namespaceURI == namespace and element.localName == name:
                    if (namespace, name) == (DARKTABLE, "colorlabels") and label:
                        for child in list(element.childNodes):  # refilled in place: a rerun changes nothing
                            element.removeChild(child)
                    else:
                        description.removeChild(element)
    first = descriptions[0]

    def attribute(namespace: str, name: str, value: str) -> None:
        first.setAttributeNS(namespace, f"{_prefix(first, namespace)}:{name}", value)

    attribute(XMP, "Rating", "-1")
    attribute(DIGIKAM, "PickLabel", "1")
    if label:
        digikam_colour, darktable_colour = COLOUR_LABELS[label]
        attribute(XMP, "Label", label)
        attribute(DIGIKAM, "ColorLabel", str(digikam_colour))
        _list_values(doc, descriptions, DARKTABLE, "colorlabels", "Seq", [str(darktable_colour)])
    keywords = _keywords(blur_type, reasons)
    _list_values(doc, descriptions, DC, "subject", "Bag", [keyword for keyword, _ in keywords])
    _list_values(
        doc, descriptions, LR, "hierarchicalSubject", "Bag", [f"{k}|{child}" for k, child in keywords]
    )
    _list_values(doc, descriptions, DIGIKAM, "TagsList", "Seq", [f"{k}/{child}" for k, child in keywords])
    has_description = any(
        e.namespaceURI == DC and e.localName == "description" for d in descriptions for e in _elements(d)
    )
    if not has_description:  # the user's own description is theirs: only a new one says why
        note = f"blur_probability {blur_probability:.3f}" + (
            f", model {model_version}" if model_version else ""
        )
        alt = _add(doc, _add(doc, first, DC, "description"), RDF, "Alt")
        _add(doc, alt, RDF, "li", note).setAttributeNS(XML, "xml:lang", "x-default")
    text = doc.toxml(encoding="utf-8")
    if not (existing or b"").lstrip(b"\xef\xbb\xbf \r\n\t").startswith(b"<?xml"):
        text = text.split(b"?>", 1)[1]  # a packet that had no XML declaration gets none
    return text if text.endswith(b"\n") else text + b"\n"
