//! The file as a tree of nodes with byte spans, built from saphyr-parser's events: where each
//! scalar's bytes begin and end, so that an edit replaces exactly them and nothing around them.

use crate::error::Error;
use saphyr_parser::{Event, Parser, ScalarStyle, Span, StrInput};

/// How a scalar is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Style {
    Plain,
    Single,
    Double,
    Literal,
    Folded,
}

impl Style {
    pub(crate) fn is_block(self) -> bool {
        matches!(self, Style::Literal | Style::Folded)
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Scalar {
    /// The scalar's content, as the parser decoded it (quotes and escapes resolved).
    pub text: String,
    pub style: Style,
    /// A tag (`!!str`, `!foo`) as written, when there is one.
    pub tag: Option<String>,
    /// Where the value's own bytes begin: after any `&anchor` and `!tag` (which an edit keeps);
    /// for a block scalar, its `|` or `>` indicator.
    pub value_start: usize,
}

#[derive(Debug, Clone)]
pub(crate) enum Kind {
    Scalar(Scalar),
    Map {
        entries: Vec<(Node, Node)>,
        flow: bool,
    },
    Seq {
        items: Vec<Node>,
        flow: bool,
    },
    /// `*name`: the anchor's id.
    Alias(usize),
}

/// A node and its bytes `start..end`. For a block collection, `start` is its first entry's
/// start and `end` its last entry's end; a block scalar ends with its last non-blank line (its
/// trailing blank lines are left to what follows).
#[derive(Debug, Clone)]
pub(crate) struct Node {
    pub kind: Kind,
    pub start: usize,
    pub end: usize,
    /// The anchor id (`&name`), 0 for none.
    pub anchor: usize,
}

impl Node {
    pub(crate) fn describe(&self) -> &'static str {
        match &self.kind {
            Kind::Scalar(s) if s.style == Style::Plain && is_null_text(&s.text) => "empty (null)",
            Kind::Scalar(_) => "a scalar",
            Kind::Map { .. } => "a map",
            Kind::Seq { .. } => "a list",
            Kind::Alias(_) => "an alias",
        }
    }

    /// An untagged plain null (`key:`, `~`, `null`): a place a map or list can be created.
    pub(crate) fn is_null(&self) -> bool {
        matches!(&self.kind, Kind::Scalar(s) if s.style == Style::Plain && s.tag.is_none() && is_null_text(&s.text))
    }

    pub(crate) fn is_flow(&self) -> bool {
        matches!(
            self.kind,
            Kind::Map { flow: true, .. } | Kind::Seq { flow: true, .. }
        )
    }
}

pub(crate) fn is_null_text(text: &str) -> bool {
    matches!(text, "" | "~" | "null" | "Null" | "NULL")
}

#[derive(Debug, Clone)]
pub(crate) struct Doc {
    pub root: Node,
}

/// Every document of the file, and every alias in it (id and name) so an edit can tell whether
/// an anchor is shared.
#[derive(Debug, Clone)]
pub(crate) struct Stream {
    pub docs: Vec<Doc>,
    pub aliases: Vec<(usize, String)>,
}

impl Stream {
    pub(crate) fn alias_name(&self, anchor: usize) -> Option<&str> {
        self.aliases
            .iter()
            .find(|(id, _)| *id == anchor)
            .map(|(_, n)| n.as_str())
    }
}

pub(crate) fn parse(src: &str) -> Result<Stream, Error> {
    let mut b = Builder {
        src,
        parser: Parser::new_from_str(src),
        bytes: (!src.is_ascii()).then(|| {
            let mut v: Vec<usize> = src.char_indices().map(|(i, _)| i).collect();
            v.push(src.len());
            v
        }),
        last_end: 0,
        aliases: Vec::new(),
    };
    let mut docs = Vec::new();
    loop {
        let (event, start, _) = b.next()?;
        match event {
            Event::StreamStart => {}
            Event::StreamEnd => break,
            Event::DocumentStart(_) => {
                let (event, s, e) = b.next()?;
                let root = if matches!(event, Event::DocumentEnd) {
                    empty_at(s)
                } else {
                    let root = b.node(event, s, e)?;
                    expect_document_end(&mut b)?;
                    root
                };
                docs.push(Doc { root });
            }
            _ => {
                return Err(Error::Parse {
                    line: line_of(src, start),
                    column: 1,
                    message: "unexpected YAML event at the top of the stream".into(),
                })
            }
        }
    }
    Ok(Stream {
        docs,
        aliases: b.aliases,
    })
}

fn expect_document_end(b: &mut Builder<'_>) -> Result<(), Error> {
    let (event, start, _) = b.next()?;
    if matches!(event, Event::DocumentEnd) {
        Ok(())
    } else {
        Err(Error::Parse {
            line: line_of(b.src, start),
            column: 1,
            message: "expected the end of the document".into(),
        })
    }
}

pub(crate) fn empty_at(pos: usize) -> Node {
    Node {
        kind: Kind::Scalar(Scalar {
            text: String::new(),
            style: Style::Plain,
            tag: None,
            value_start: pos,
        }),
        start: pos,
        end: pos,
        anchor: 0,
    }
}

pub(crate) fn line_of(src: &str, pos: usize) -> usize {
    src[..pos.min(src.len())].matches('\n').count() + 1
}

struct Builder<'a> {
    src: &'a str,
    parser: Parser<'a, StrInput<'a>>,
    /// Byte offset of each character, when the text is not ASCII (the parser counts characters).
    bytes: Option<Vec<usize>>,
    /// Where the previous event ended: a block scalar's indicator is found after it.
    last_end: usize,
    aliases: Vec<(usize, String)>,
}

impl<'a> Builder<'a> {
    fn byte(&self, char_index: usize) -> usize {
        match &self.bytes {
            Some(v) => v[char_index.min(v.len() - 1)],
            None => char_index.min(self.src.len()),
        }
    }

    fn next(&mut self) -> Result<(Event<'a>, usize, usize), Error> {
        match self.parser.next_event() {
            Some(Ok((event, Span { start, end }))) => {
                let (s, e) = (self.byte(start.index()), self.byte(end.index()));
                Ok((event, s, e))
            }
            Some(Err(e)) => Err(Error::Parse {
                line: e.marker().line(),
                column: e.marker().col() + 1,
                message: e.info().to_string(),
            }),
            None => Err(Error::Parse {
                line: line_of(self.src, self.src.len()),
                column: 1,
                message: "unexpected end of the YAML stream".into(),
            }),
        }
    }

    fn node(&mut self, event: Event<'a>, start: usize, end: usize) -> Result<Node, Error> {
        let node = match event {
            Event::Scalar(text, style, anchor, tag) => {
                let style = match style {
                    ScalarStyle::Plain => Style::Plain,
                    ScalarStyle::SingleQuoted => Style::Single,
                    ScalarStyle::DoubleQuoted => Style::Double,
                    ScalarStyle::Literal => Style::Literal,
                    ScalarStyle::Folded => Style::Folded,
                };
                let tag = tag.map(|t| {
                    if t.handle == "tag:yaml.org,2002:" {
                        format!("!!{}", t.suffix)
                    } else {
                        format!("{}{}", t.handle, t.suffix)
                    }
                });
                let (start, value_start, end) = self.scalar_span(style, &text, start, end)?;
                Node {
                    kind: Kind::Scalar(Scalar {
                        text: text.into_owned(),
                        style,
                        tag,
                        value_start,
                    }),
                    start,
                    end,
                    anchor,
                }
            }
            Event::Alias(id) => self.alias(id, start, end),
            Event::SequenceStart(anchor, _) => self.sequence(anchor, start, end)?,
            Event::MappingStart(anchor, _) => self.mapping(anchor, start, end)?,
            _ => {
                return Err(Error::Parse {
                    line: line_of(self.src, start),
                    column: 1,
                    message: "unexpected YAML event".into(),
                })
            }
        };
        self.last_end = self.last_end.max(node.end);
        Ok(node)
    }

    /// A scalar's `(start, value_start, end)`: saphyr's span of a quoted scalar runs on over
    /// spaces and a comment after it, and a block scalar's over the lines after it, so the ends
    /// are found in the text.
    fn scalar_span(
        &self,
        style: Style,
        text: &str,
        start: usize,
        end: usize,
    ) -> Result<(usize, usize, usize), Error> {
        Ok(match style {
            Style::Literal | Style::Folded => {
                let (props, indicator) = self.block_header(start)?;
                let end = if text.is_empty() {
                    indicator + 1
                } else {
                    block_end(self.src, start, end)
                };
                (props, indicator, end)
            }
            Style::Single | Style::Double => {
                let vs = skip_properties(self.src, start, end);
                (start, vs, closing_quote(self.src, vs).unwrap_or(end))
            }
            // An empty value (`key:`) is reported at its `:` (or a list's `-`).
            Style::Plain if text.is_empty() && start == end => {
                let at = match self.src.as_bytes().get(start) {
                    Some(b':' | b'-') => start + 1,
                    _ => start,
                };
                (at, at, at)
            }
            Style::Plain => (start, skip_properties(self.src, start, end), end),
        })
    }

    /// `*name`: the node spans the name alone, which is remembered for error messages.
    fn alias(&mut self, id: usize, start: usize, end: usize) -> Node {
        let name: String = self.src[start + 1..end]
            .chars()
            .take_while(|c| !c.is_whitespace() && !",[]{}".contains(*c))
            .collect();
        let end = start + 1 + name.len();
        self.aliases.push((id, name));
        Node {
            kind: Kind::Alias(id),
            start,
            end,
            anchor: 0,
        }
    }

    fn sequence(&mut self, anchor: usize, start: usize, end: usize) -> Result<Node, Error> {
        let flow = self.src[start..end].starts_with('[');
        self.last_end = end;
        let mut items = Vec::new();
        let close = loop {
            let (e, s, en) = self.next()?;
            if matches!(e, Event::SequenceEnd) {
                break (s + 1).min(en);
            }
            items.push(self.node(e, s, en)?);
        };
        let end = collection_end(flow, close, items.last(), start);
        Ok(Node {
            kind: Kind::Seq { items, flow },
            start,
            end,
            anchor,
        })
    }

    fn mapping(&mut self, anchor: usize, start: usize, end: usize) -> Result<Node, Error> {
        let flow = self.src[start..end].starts_with('{');
        self.last_end = end;
        let mut entries = Vec::new();
        let close = loop {
            let (e, s, en) = self.next()?;
            if matches!(e, Event::MappingEnd) {
                break (s + 1).min(en);
            }
            let key = self.node(e, s, en)?;
            let (e, s, en) = self.next()?;
            let value = self.node(e, s, en)?;
            entries.push((key, value));
        };
        let end = collection_end(flow, close, entries.last().map(|(_, v)| v), start);
        Ok(Node {
            kind: Kind::Map { entries, flow },
            start,
            end,
            anchor,
        })
    }

    /// A block scalar's span starts at its content; find its properties and its `|`/`>`
    /// indicator between the previous token and the content.
    fn block_header(&self, content: usize) -> Result<(usize, usize), Error> {
        let bytes = self.src.as_bytes();
        let mut i = self.last_end;
        let mut props = None;
        while i < content {
            match bytes[i] {
                b'|' | b'>' => return Ok((props.unwrap_or(i), i)),
                b'#' => {
                    while i < content && bytes[i] != b'\n' {
                        i += 1;
                    }
                }
                b'&' | b'!' => {
                    props.get_or_insert(i);
                    while i < content && !bytes[i].is_ascii_whitespace() {
                        i += 1;
                    }
                }
                _ => i += 1,
            }
        }
        Err(Error::Parse {
            line: line_of(self.src, content),
            column: 1,
            message: "cannot find the block scalar's indicator".into(),
        })
    }
}

fn collection_end(flow: bool, close: usize, last: Option<&Node>, start: usize) -> usize {
    if flow {
        close
    } else {
        last.map_or(start, |n| n.end)
    }
}

/// Skips `&anchor` and `!tag` properties (and the spaces after them) at the start of a span.
fn skip_properties(src: &str, start: usize, end: usize) -> usize {
    let bytes = src.as_bytes();
    let mut i = start;
    while i < end && matches!(bytes[i], b'&' | b'!') {
        while i < end && !bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        while i < end && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
    }
    i
}

/// The end of a block scalar whose content starts at `start`: the end of its last non-blank line
/// indented at least as far as its first one.
fn block_end(src: &str, start: usize, span_end: usize) -> usize {
    let indent = column(src, start);
    let mut end = line_end(src, start);
    let mut pos = end;
    while pos < span_end.min(src.len()) {
        let next = line_end(src, pos + 1);
        let line = &src[pos + 1..next];
        if !line.trim().is_empty() {
            if line.len() - line.trim_start_matches(' ').len() < indent {
                break;
            }
            end = next;
        }
        pos = next;
    }
    end.min(span_end.max(line_end(src, start)))
}

/// The position after the quote that closes the quoted scalar opening at `open`.
fn closing_quote(src: &str, open: usize) -> Option<usize> {
    let bytes = src.as_bytes();
    let quote = *bytes.get(open)?;
    let mut i = open + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' if quote == b'"' => i += 2,
            b'\'' if quote == b'\'' && bytes.get(i + 1) == Some(&b'\'') => i += 2,
            b if b == quote => return Some(i + 1),
            _ => i += 1,
        }
    }
    None
}

/// The column (in characters) of a byte position.
pub(crate) fn column(src: &str, pos: usize) -> usize {
    let line_start = src[..pos].rfind('\n').map_or(0, |i| i + 1);
    src[line_start..pos].chars().count()
}

/// The position of the end of the line holding `pos`: its `\n`, or the end of the text.
pub(crate) fn line_end(src: &str, pos: usize) -> usize {
    src[pos..].find('\n').map_or(src.len(), |i| pos + i)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scalar_bytes<'a>(src: &'a str, n: &Node) -> &'a str {
        match &n.kind {
            Kind::Scalar(s) => &src[s.value_start..n.end],
            _ => panic!("not a scalar"),
        }
    }

    #[test]
    fn spans_cover_a_scalar_without_its_properties_and_a_block_scalar_from_its_indicator() {
        let src = "a: &x 'one' # c\nb: |-\n  two\n  lines\n\nc: !!str 3\n";
        let s = parse(src).unwrap();
        let Kind::Map { entries, .. } = &s.docs[0].root.kind else {
            panic!()
        };
        assert_eq!(scalar_bytes(src, &entries[0].1), "'one'");
        assert_eq!(entries[0].1.anchor, 1);
        assert_eq!(scalar_bytes(src, &entries[1].1), "|-\n  two\n  lines");
        assert_eq!(scalar_bytes(src, &entries[2].1), "3");
    }

    #[test]
    fn non_ascii_text_maps_to_byte_offsets() {
        let src = "é: ü\nb: 'ß'\n";
        let s = parse(src).unwrap();
        let Kind::Map { entries, .. } = &s.docs[0].root.kind else {
            panic!()
        };
        assert_eq!(scalar_bytes(src, &entries[1].1), "'ß'");
    }
}
