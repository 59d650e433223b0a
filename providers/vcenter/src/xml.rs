//! A compact, read-only XML tree for vim25 SOAP responses, and escaping for requests.
//!
//! Responses are parsed once into an arena: every element's local name, text and the
//! two attributes vim25 needs (`xsi:type`, resolved by namespace URI and never by its
//! literal prefix, and the managed-object `type`) live as ranges into one string buffer,
//! so a 40 MB discovery page costs a handful of allocations rather than one per node.
//! Element namespaces are not kept: vim25 uses a single namespace for everything inside
//! the SOAP body.

use std::fmt;
use std::ops::Range;

use quick_xml::events::{BytesStart, Event};
use quick_xml::name::ResolveResult;
use quick_xml::reader::NsReader;

/// The XML Schema instance namespace, whose `type` attribute names a polymorphic value's
/// concrete type. vcsim writes it with a generated prefix (`XMLSchema-instance:type`),
/// vCenter with `xsi:`; only the URI identifies it.
pub const XSI_NAMESPACE: &str = "http://www.w3.org/2001/XMLSchema-instance";

const NONE: u32 = u32::MAX;

/// Why a response could not be read as XML.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed XML at byte {position}: {reason}")]
pub struct XmlError {
    pub position: u64,
    pub reason: String,
}

#[derive(Debug, Clone, Copy)]
struct Span {
    start: u32,
    end: u32,
}

impl Span {
    const EMPTY: Span = Span { start: 0, end: 0 };

    fn range(self) -> Range<usize> {
        self.start as usize..self.end as usize
    }

    fn is_empty(self) -> bool {
        self.start == self.end
    }
}

#[derive(Debug, Clone, Copy)]
struct NodeData {
    name: Span,
    xsi_type: Span,
    mo_type: Span,
    text: Span,
    first_child: u32,
    last_child: u32,
    next_sibling: u32,
}

/// A parsed XML document.
pub struct XmlDoc {
    buf: String,
    nodes: Vec<NodeData>,
}

impl fmt::Debug for XmlDoc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("XmlDoc")
            .field("nodes", &self.nodes.len())
            .finish()
    }
}

impl XmlDoc {
    /// Parses a whole document. The first element becomes the root.
    pub fn parse(input: &str) -> Result<XmlDoc, XmlError> {
        let mut reader = NsReader::from_str(input);
        let mut doc = XmlDoc {
            buf: String::with_capacity(input.len() / 3),
            nodes: Vec::with_capacity(input.len() / 40),
        };
        let mut stack: Vec<u32> = Vec::with_capacity(32);
        loop {
            let event = reader.read_event().map_err(|err| XmlError {
                position: reader.error_position(),
                reason: err.to_string(),
            })?;
            match event {
                Event::Start(start) => {
                    let idx = doc.open(&reader, &start, &stack)?;
                    stack.push(idx);
                }
                Event::Empty(start) => {
                    doc.open(&reader, &start, &stack)?;
                }
                Event::End(_) => {
                    stack.pop();
                }
                Event::Text(text) => {
                    if let Some(&current) = stack.last() {
                        doc.append_text(current, &text.xml10_content());
                    }
                }
                Event::CData(data) => {
                    if let Some(&current) = stack.last() {
                        doc.append_text(current, &data.xml10_content());
                    }
                }
                Event::GeneralRef(reference) => {
                    if let Some(&current) = stack.last() {
                        let resolved = resolve_reference(&reference).ok_or_else(|| XmlError {
                            position: reader.buffer_position(),
                            reason: format!("unknown entity `&{};`", &*reference),
                        })?;
                        let mut utf8 = [0u8; 4];
                        doc.append_text(current, resolved.encode_utf8(&mut utf8));
                    }
                }
                Event::Eof => break,
                Event::Comment(_) | Event::Decl(_) | Event::PI(_) | Event::DocType(_) => {}
            }
        }
        if doc.nodes.is_empty() {
            return Err(XmlError {
                position: 0,
                reason: "the document has no element".into(),
            });
        }
        Ok(doc)
    }

    fn push_str(&mut self, value: &str) -> Result<Span, XmlError> {
        let start = self.buf.len();
        self.buf.push_str(value);
        let end = self.buf.len();
        if end > u32::MAX as usize {
            return Err(XmlError {
                position: 0,
                reason: "document larger than 4 GiB".into(),
            });
        }
        Ok(Span {
            start: start as u32,
            end: end as u32,
        })
    }

    fn open(
        &mut self,
        reader: &NsReader<&[u8]>,
        start: &BytesStart<'_>,
        stack: &[u32],
    ) -> Result<u32, XmlError> {
        let name = self.push_str(start.local_name().as_ref())?;
        let mut xsi_type = Span::EMPTY;
        let mut mo_type = Span::EMPTY;
        for attribute in start.attributes().with_checks(false) {
            let attribute = attribute.map_err(|err| XmlError {
                position: reader.buffer_position(),
                reason: err.to_string(),
            })?;
            let (namespace, local) = reader.resolver().resolve_attribute(attribute.key);
            if local.as_ref() != "type" {
                continue;
            }
            let value = attribute
                .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                .map_err(|err| XmlError {
                    position: reader.buffer_position(),
                    reason: err.to_string(),
                })?;
            match namespace {
                ResolveResult::Bound(ns) if ns.as_ref() == XSI_NAMESPACE => {
                    // `xsd:string`, `vim25:VirtualDisk`, `VirtualDisk`: the local part
                    // names the type; vim25 and XML Schema type names never collide.
                    let local_type = value.rsplit(':').next().unwrap_or(&value);
                    xsi_type = self.push_str(local_type)?;
                }
                ResolveResult::Unbound => mo_type = self.push_str(&value)?,
                _ => {}
            }
        }
        let idx = self.nodes.len() as u32;
        self.nodes.push(NodeData {
            name,
            xsi_type,
            mo_type,
            text: Span::EMPTY,
            first_child: NONE,
            last_child: NONE,
            next_sibling: NONE,
        });
        if let Some(&parent) = stack.last() {
            let parent_data = &mut self.nodes[parent as usize];
            let previous = parent_data.last_child;
            parent_data.last_child = idx;
            if previous == NONE {
                parent_data.first_child = idx;
            } else {
                self.nodes[previous as usize].next_sibling = idx;
            }
        }
        Ok(idx)
    }

    fn append_text(&mut self, node: u32, text: &str) {
        let current = self.nodes[node as usize].text;
        if current.is_empty() {
            let start = self.buf.len() as u32;
            self.buf.push_str(text);
            self.nodes[node as usize].text = Span {
                start,
                end: self.buf.len() as u32,
            };
        } else if current.end as usize == self.buf.len() {
            // The next piece of the same text run (split by an entity reference).
            self.buf.push_str(text);
            self.nodes[node as usize].text.end = self.buf.len() as u32;
        }
        // Otherwise it is whitespace between child elements: vim25 has no mixed
        // content, so it carries nothing.
    }

    /// The document element.
    pub fn root(&self) -> Node<'_> {
        Node { doc: self, idx: 0 }
    }
}

fn resolve_reference(reference: &quick_xml::events::BytesRef<'_>) -> Option<char> {
    if reference.is_char_ref() {
        return reference.resolve_char_ref().ok().flatten();
    }
    match &**reference {
        "amp" => Some('&'),
        "lt" => Some('<'),
        "gt" => Some('>'),
        "quot" => Some('"'),
        "apos" => Some('\''),
        _ => None,
    }
}

/// One element of an [`XmlDoc`].
#[derive(Clone, Copy)]
pub struct Node<'d> {
    doc: &'d XmlDoc,
    idx: u32,
}

impl fmt::Debug for Node<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<{}>", self.name())
    }
}

impl<'d> Node<'d> {
    fn data(&self) -> &'d NodeData {
        &self.doc.nodes[self.idx as usize]
    }

    /// The element's local name, without prefix.
    pub fn name(&self) -> &'d str {
        &self.doc.buf[self.data().name.range()]
    }

    /// The `xsi:type` of the element, without its prefix, when present.
    pub fn xsi_type(&self) -> Option<&'d str> {
        let span = self.data().xsi_type;
        (!span.is_empty()).then(|| &self.doc.buf[span.range()])
    }

    /// The unprefixed `type` attribute: the managed object type of a reference.
    pub fn mo_type(&self) -> Option<&'d str> {
        let span = self.data().mo_type;
        (!span.is_empty()).then(|| &self.doc.buf[span.range()])
    }

    /// The element's text, unescaped (empty when it has none).
    pub fn text(&self) -> &'d str {
        &self.doc.buf[self.data().text.range()]
    }

    pub fn children(&self) -> Children<'d> {
        Children {
            doc: self.doc,
            next: self.data().first_child,
        }
    }

    /// The first child with this local name.
    pub fn child(&self, name: &str) -> Option<Node<'d>> {
        self.children().find(|child| child.name() == name)
    }

    /// Every child with this local name.
    pub fn children_named<'n>(self, name: &'n str) -> impl Iterator<Item = Node<'d>> + 'n
    where
        'd: 'n,
    {
        self.children().filter(move |child| child.name() == name)
    }

    /// Follows a path of child names (`["summary", "config", "product"]`).
    pub fn path(&self, names: &[&str]) -> Option<Node<'d>> {
        names.iter().try_fold(*self, |node, name| node.child(name))
    }

    /// The text of the first child with this name.
    pub fn child_text(&self, name: &str) -> Option<&'d str> {
        self.child(name).map(|child| child.text())
    }
}

/// Iterator over an element's children.
pub struct Children<'d> {
    doc: &'d XmlDoc,
    next: u32,
}

impl<'d> Iterator for Children<'d> {
    type Item = Node<'d>;

    fn next(&mut self) -> Option<Node<'d>> {
        if self.next == NONE {
            return None;
        }
        let node = Node {
            doc: self.doc,
            idx: self.next,
        };
        self.next = self.doc.nodes[self.next as usize].next_sibling;
        Some(node)
    }
}

/// Escapes text for an element body or a double-quoted attribute.
pub fn escape(text: &str) -> std::borrow::Cow<'_, str> {
    quick_xml::escape::escape(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_xsi_type_by_namespace_not_prefix() {
        let xml = r#"<a xmlns="urn:vim25">
            <val xmlns:XMLSchema-instance="http://www.w3.org/2001/XMLSchema-instance" XMLSchema-instance:type="xsd:string">x</val>
            <val xmlns:foo="http://www.w3.org/2001/XMLSchema-instance" foo:type="VirtualDisk"/>
            <val xmlns:xsi="urn:not-xsi" xsi:type="Bogus"/>
            <obj type="VirtualMachine">vm-1</obj>
        </a>"#;
        let doc = XmlDoc::parse(xml).unwrap();
        let vals: Vec<_> = doc.root().children().collect();
        assert_eq!(vals[0].xsi_type(), Some("string"));
        assert_eq!(vals[0].text(), "x");
        assert_eq!(vals[1].xsi_type(), Some("VirtualDisk"));
        assert_eq!(vals[2].xsi_type(), None, "a prefix named xsi is not enough");
        assert_eq!(vals[3].mo_type(), Some("VirtualMachine"));
        assert_eq!(vals[3].text(), "vm-1");
    }

    #[test]
    fn unescapes_entities_and_keeps_text_across_refs() {
        let doc = XmlDoc::parse("<a><b>x &amp; y &#65;&lt;</b><c><![CDATA[<z>]]></c></a>").unwrap();
        assert_eq!(doc.root().child_text("b"), Some("x & y A<"));
        assert_eq!(doc.root().child_text("c"), Some("<z>"));
    }

    #[test]
    fn whitespace_between_children_does_not_replace_text() {
        let doc = XmlDoc::parse("<a>\n  <b>1</b>\n  <b>2</b>\n</a>").unwrap();
        let texts: Vec<_> = doc.root().children_named("b").map(|b| b.text()).collect();
        assert_eq!(texts, ["1", "2"]);
        assert_eq!(doc.root().path(&["b"]).map(|b| b.text()), Some("1"));
    }

    #[test]
    fn malformed_input_is_an_error_not_a_panic() {
        assert!(XmlDoc::parse("<a><b></a>").is_err());
        assert!(XmlDoc::parse("").is_err());
        assert!(XmlDoc::parse("<a>&bogus;</a>").is_err());
    }
}
