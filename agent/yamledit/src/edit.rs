//! Finding where a path leads in the tree, and the one splice that sets it: replace a node's
//! bytes, insert an entry after the last sibling, or append an item. Nothing outside the splice
//! is rewritten.

use crate::emit::{self, Context, Indent};
use crate::error::{Error, Result};
use crate::read::{is_merge_key, Reader, Schema, V};
use crate::tree::{column, line_end, Doc, Kind, Node, Stream};
use crate::{path_string, Key};
use serde_json::Value;
use std::collections::HashMap;

/// Where a node sits: what holds it, and whether that holder is a flow collection.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Place<'t> {
    pub parent: Parent<'t>,
    pub flow: bool,
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum Parent<'t> {
    Root,
    MapValue { key: &'t Node },
    SeqItem,
}

/// What a path leads to.
pub(crate) enum Found<'t> {
    /// The node at the path.
    Existing(&'t Node, Place<'t>),
    /// A map that lacks `path[depth]`.
    MissingKey {
        map: &'t Node,
        place: Place<'t>,
        depth: usize,
    },
    /// A list whose length is `path[depth]`'s index.
    Append {
        seq: &'t Node,
        place: Place<'t>,
        depth: usize,
    },
    /// A null (`key:`, `~`) that `path[depth..]` goes into: it becomes a map or a list.
    IntoNull {
        node: &'t Node,
        place: Place<'t>,
        depth: usize,
    },
}

pub(crate) fn walk<'t>(
    src: &str,
    stream: &'t Stream,
    doc: &'t Doc,
    path: &[Key],
) -> Result<Found<'t>> {
    let walker = Walker { src, stream, path };
    let mut node = &doc.root;
    let mut place = Place {
        parent: Parent::Root,
        flow: false,
    };
    for depth in 0..=path.len() {
        walker.refuse_shared(node)?;
        let Some(key) = path.get(depth) else {
            return Ok(Found::Existing(node, place));
        };
        if node.is_null() {
            return Ok(Found::IntoNull { node, place, depth });
        }
        let step = match (key, &node.kind) {
            (Key::Map(k), Kind::Map { entries, flow }) => {
                walker.map_step(node, place, depth, k, entries, *flow)?
            }
            (Key::Index(i), Kind::Seq { items, flow }) => {
                walker.seq_step(node, place, depth, *i, items, *flow)?
            }
            (Key::Map(k), _) => {
                return Err(Error::NotAMap {
                    path: path_string(&path[..depth]),
                    key: k.clone(),
                    found: node.describe(),
                })
            }
            (Key::Index(i), _) => {
                return Err(Error::NotAList {
                    path: path_string(&path[..depth]),
                    index: *i,
                    found: node.describe(),
                })
            }
        };
        match step {
            Step::Into(next, at) => (node, place) = (next, at),
            Step::Done(found) => return Ok(found),
        }
    }
    Ok(Found::Existing(node, place))
}

/// One step of a walk down a path: into a child, or where the walk ends.
enum Step<'t> {
    Into(&'t Node, Place<'t>),
    Done(Found<'t>),
}

/// What every step of one walk reads: the text, its stream (for anchors) and the whole path.
struct Walker<'s, 't, 'p> {
    src: &'s str,
    stream: &'t Stream,
    path: &'p [Key],
}

impl<'t> Walker<'_, 't, '_> {
    /// An alias, or a node an alias repeats elsewhere: editing through it would change more
    /// than the path.
    fn refuse_shared(&self, node: &Node) -> Result<()> {
        if let Kind::Alias(id) = node.kind {
            return Err(Error::Alias {
                path: path_string(self.path),
                alias: self.stream.alias_name(id).unwrap_or("?").to_string(),
            });
        }
        if node.anchor != 0 {
            if let Some(name) = self.stream.alias_name(node.anchor) {
                return Err(Error::Anchor {
                    path: path_string(self.path),
                    anchor: name.to_string(),
                });
            }
        }
        Ok(())
    }

    /// The value of key `k` in a map; the map itself when it lacks the key (unless a `<<:`
    /// merge supplies it, which is refused).
    fn map_step(
        &self,
        node: &'t Node,
        place: Place<'t>,
        depth: usize,
        k: &str,
        entries: &'t [(Node, Node)],
        flow: bool,
    ) -> Result<Step<'t>> {
        let merge = || Error::Merge {
            path: path_string(self.path),
        };
        if k == "<<" {
            return Err(merge());
        }
        let mut reader = reader_after(self.src, self.stream);
        let mut found = None;
        for (kn, vn) in entries {
            if !is_merge_key(kn) && reader.key(kn)? == k {
                found = Some((kn, vn));
            }
        }
        if let Some((kn, vn)) = found {
            let place = Place {
                parent: Parent::MapValue { key: kn },
                flow,
            };
            return Ok(Step::Into(vn, place));
        }
        if let V::Map(m) = reader.node(node)? {
            if m.iter().any(|(x, _)| x == k) {
                return Err(merge());
            }
        }
        Ok(Step::Done(Found::MissingKey {
            map: node,
            place,
            depth,
        }))
    }

    /// Item `i` of a list; the list itself when `i` is its length (an append).
    fn seq_step(
        &self,
        node: &'t Node,
        place: Place<'t>,
        depth: usize,
        i: usize,
        items: &'t [Node],
        flow: bool,
    ) -> Result<Step<'t>> {
        if i == items.len() {
            return Ok(Step::Done(Found::Append {
                seq: node,
                place,
                depth,
            }));
        }
        let Some(item) = items.get(i) else {
            return Err(Error::IndexOutOfRange {
                path: path_string(&self.path[..depth]),
                index: i,
                len: items.len(),
            });
        };
        let place = Place {
            parent: Parent::SeqItem,
            flow,
        };
        Ok(Step::Into(item, place))
    }
}

/// A YAML 1.2 reader that has seen every anchor of the stream.
fn reader_after<'a>(src: &'a str, stream: &Stream) -> Reader<'a> {
    let mut r = Reader {
        src,
        schema: Schema::Yaml12,
        anchors: HashMap::new(),
    };
    for d in &stream.docs {
        // A reading error surfaces where the value is read; here only anchors are wanted.
        let _ = r.node(&d.root);
    }
    r
}

/// The value that `rest` of a path builds around `value` where nothing exists yet.
pub(crate) fn nest(path: &[Key], depth: usize, value: &Value) -> Result<Value> {
    let Some(key) = path.get(depth) else {
        return Ok(value.clone());
    };
    let inner = nest(path, depth + 1, value)?;
    match key {
        Key::Map(k) => {
            let mut m = serde_json::Map::new();
            m.insert(k.clone(), inner);
            Ok(Value::Object(m))
        }
        Key::Index(0) => Ok(Value::Array(vec![inner])),
        Key::Index(i) => Err(Error::IndexOutOfRange {
            path: path_string(&path[..depth]),
            index: *i,
            len: 0,
        }),
    }
}

/// One edit's splice of the text.
pub(crate) struct Editor<'s> {
    pub src: &'s str,
    pub indent: Indent,
}

impl Editor<'_> {
    pub(crate) fn apply(&self, found: Found<'_>, path: &[Key], value: &Value) -> Result<String> {
        match found {
            Found::Existing(node, place) => self.replace(node, place, value, path),
            Found::IntoNull { node, place, depth } => {
                self.replace(node, place, &nest(path, depth, value)?, path)
            }
            Found::MissingKey { map, place, depth } => {
                let Key::Map(k) = &path[depth] else {
                    unreachable!("a missing key is a map key")
                };
                let mut entry = serde_json::Map::new();
                entry.insert(k.clone(), nest(path, depth + 1, value)?);
                let entry = Value::Object(entry);
                self.insert(map, place, &entry, path)
            }
            Found::Append { seq, place, depth } => {
                let item = Value::Array(vec![nest(path, depth + 1, value)?]);
                self.insert(seq, place, &item, path)
            }
        }
    }

    fn splice(&self, start: usize, end: usize, text: &str) -> String {
        let mut out = String::with_capacity(self.src.len() + text.len());
        out.push_str(&self.src[..start]);
        out.push_str(text);
        out.push_str(&self.src[end..]);
        out
    }

    /// The column that a new block under this node's holder starts from: the key's column for a
    /// map value, the dash's for a list item, 0 at the root.
    fn owner_column(&self, node: &Node, place: Place<'_>) -> Option<usize> {
        match place.parent {
            Parent::Root => None,
            Parent::MapValue { key } => Some(column(self.src, key.start)),
            Parent::SeqItem => Some(dash_before(self.src, node.start).map_or_else(
                || column(self.src, node.start).saturating_sub(2),
                |d| column(self.src, d),
            )),
        }
    }

    fn block_indent(&self, node: &Node, place: Place<'_>) -> usize {
        if let Kind::Scalar(s) = &node.kind {
            if s.style.is_block() {
                if let Some(col) = first_content_column(self.src, s.value_start, node.end) {
                    return col;
                }
            }
        }
        match place.parent {
            Parent::SeqItem => self.owner_column(node, place).map_or(2, |c| c + 2),
            _ => self
                .owner_column(node, place)
                .map_or(self.indent.step, |c| c + self.indent.step),
        }
    }

    fn replace(
        &self,
        node: &Node,
        place: Place<'_>,
        value: &Value,
        path: &[Key],
    ) -> Result<String> {
        let ctx = if place.flow {
            Context::Flow
        } else {
            Context::Block
        };
        let as_block = ctx == Context::Block && emit::is_block_collection(value);
        let old_block_collection =
            matches!(node.kind, Kind::Map { .. } | Kind::Seq { .. }) && !node.is_flow();
        let (start, old_style) = match &node.kind {
            Kind::Scalar(s) => (s.value_start, (!node.is_null()).then_some(s.style)),
            Kind::Alias(_) => {
                return Err(Error::Unsupported {
                    path: path_string(path),
                    reason: "an alias cannot be replaced in place".into(),
                })
            }
            _ => (node.start, None),
        };
        if let Kind::Scalar(s) = &node.kind {
            if s.tag.is_some() {
                return Err(Error::Unsupported {
                    path: path_string(path),
                    reason: format!(
                        "the value is tagged {}; remove the tag by hand first",
                        s.tag.as_deref().unwrap_or("")
                    ),
                });
            }
        }
        let end = node.end;
        if as_block {
            return Ok(self.replace_with_block(node, place, value, start));
        }
        let text = if value.is_array() || value.is_object() {
            emit::flow(value)
        } else {
            // A block scalar only where nothing but spaces follows on the line.
            let rest = &self.src[end..line_end(self.src, end)];
            let block = rest
                .trim()
                .is_empty()
                .then(|| self.block_indent(node, place));
            emit::scalar(value, old_style, ctx, block)
        };
        if old_block_collection {
            if let Parent::MapValue { key } = place.parent {
                let colon = colon_after(self.src, key.end).unwrap_or(key.end);
                return Ok(self.splice(colon + 1, end, &format!(" {text}")));
            }
        }
        let (at, lead) = self.spaced(start, end);
        Ok(self.splice(at, end, &format!("{lead}{text}")))
    }

    /// Replaces the node starting at `start` with `value` as a block collection.
    fn replace_with_block(
        &self,
        node: &Node,
        place: Place<'_>,
        value: &Value,
        start: usize,
    ) -> String {
        let end = node.end;
        let old_block_collection =
            matches!(node.kind, Kind::Map { .. } | Kind::Seq { .. }) && !node.is_flow();
        if !old_block_collection && !matches!(place.parent, Parent::SeqItem | Parent::Root) {
            return self.block_after_key(node, place, value, start);
        }
        let (at, lead) = self.spaced(start, end);
        let col = if matches!(place.parent, Parent::Root) && !old_block_collection {
            0
        } else {
            column(self.src, at) + lead.len()
        };
        let lines = emit::block_lines(value, col, self.indent);
        let mut text = lines.join("\n");
        text.replace_range(..col.min(text.len()), "");
        let prefix = if matches!(place.parent, Parent::Root) && column(self.src, at) != 0 {
            "\n".to_string()
        } else {
            lead
        };
        // A document that was empty: the new block ends its own line.
        let suffix = if matches!(place.parent, Parent::Root)
            && node.is_null()
            && !self.src[end..].starts_with('\n')
        {
            "\n"
        } else {
            ""
        };
        self.splice(at, end, &format!("{prefix}{text}{suffix}"))
    }

    /// A map value written on the key's line, replaced by a block: the block goes on the lines
    /// after it, and a comment on that line stays there.
    fn block_after_key(
        &self,
        node: &Node,
        place: Place<'_>,
        value: &Value,
        start: usize,
    ) -> String {
        let end = node.end;
        let key_col = self.owner_column(node, place).unwrap_or(0);
        let col = key_col
            + if value.is_array() {
                self.indent.seq
            } else {
                self.indent.step
            };
        let lines = emit::block_lines(value, col, self.indent);
        let ws = self.src[..start].trim_end_matches([' ', '\t']).len();
        let eol = line_end(self.src, end);
        let mut out = String::new();
        out.push_str(&self.src[..ws]);
        out.push_str(&self.src[end..eol]);
        for l in &lines {
            out.push('\n');
            out.push_str(l);
        }
        out.push_str(&self.src[eol..]);
        out
    }

    /// An empty value right after `:` or `-` needs a space before the new text.
    fn spaced(&self, start: usize, end: usize) -> (usize, String) {
        let before = self.src[..start].chars().next_back();
        if start == end && matches!(before, Some(':' | '-')) {
            (start, " ".into())
        } else {
            (start, String::new())
        }
    }

    /// Adds `addition` (a one-entry map, or a one-item list) to the collection `node`.
    fn insert(
        &self,
        node: &Node,
        place: Place<'_>,
        addition: &Value,
        path: &[Key],
    ) -> Result<String> {
        let (first_start, last_end, len) = match &node.kind {
            Kind::Map { entries, .. } => (
                entries.first().map(|(k, _)| k.start),
                entries.last().map(|(_, v)| v.end),
                entries.len(),
            ),
            Kind::Seq { items, .. } => (
                items.first().map(|i| i.start),
                items.last().map(|i| i.end),
                items.len(),
            ),
            _ => unreachable!("insertion goes into a collection"),
        };
        if node.is_flow() {
            if len == 0 && !place.flow {
                // `resources: {}` becomes a block map (the usual placeholder, filled in).
                return self.replace(node, place, addition, path);
            }
            let inner = emit::flow(addition);
            let inner = &inner[1..inner.len() - 1];
            return Ok(match last_end {
                Some(end) => self.splice(end, end, &format!(", {inner}")),
                None => self.splice(node.start + 1, node.start + 1, inner),
            });
        }
        let Some(first) = first_start else {
            return self.replace(node, place, addition, path);
        };
        let col = match &node.kind {
            Kind::Seq { .. } => dash_before(self.src, first)
                .map_or_else(|| column(self.src, first), |d| column(self.src, d)),
            _ => column(self.src, first),
        };
        let at = line_end(self.src, last_end.unwrap_or(node.end));
        let lines = emit::block_lines(addition, col, self.indent);
        let mut text = String::new();
        for l in &lines {
            text.push('\n');
            text.push_str(l);
        }
        Ok(self.splice(at, at, &text))
    }
}

/// The `-` of a block list item that starts at `pos`, if one is before it on its line.
fn dash_before(src: &str, pos: usize) -> Option<usize> {
    let before = src[..pos].trim_end_matches([' ', '\t']);
    before.ends_with('-').then(|| before.len() - 1)
}

fn colon_after(src: &str, pos: usize) -> Option<usize> {
    src[pos..].find(':').map(|i| pos + i)
}

/// The column of a block scalar's first content line.
fn first_content_column(src: &str, indicator: usize, end: usize) -> Option<usize> {
    let header_end = line_end(src, indicator);
    if header_end >= end {
        return None;
    }
    src[header_end + 1..end]
        .split('\n')
        .find(|l| !l.trim().is_empty())
        .map(|l| l.len() - l.trim_start_matches(' ').len())
}

/// The file's indentation, from its nested block maps and lists (the most common step), or 2.
pub(crate) fn detect_indent(src: &str, stream: &Stream) -> Indent {
    let mut steps: HashMap<usize, usize> = HashMap::new();
    let mut seqs: HashMap<usize, usize> = HashMap::new();
    fn visit(
        src: &str,
        n: &Node,
        steps: &mut HashMap<usize, usize>,
        seqs: &mut HashMap<usize, usize>,
    ) {
        match &n.kind {
            Kind::Map { entries, flow } => {
                for (k, v) in entries {
                    if !flow && !v.is_flow() {
                        let kc = column(src, k.start);
                        match &v.kind {
                            Kind::Map { entries: e, .. } if !e.is_empty() => {
                                let vc = column(src, e[0].0.start);
                                if vc > kc {
                                    *steps.entry(vc - kc).or_default() += 1;
                                }
                            }
                            Kind::Seq { items, .. } if !items.is_empty() => {
                                if let Some(d) = dash_before(src, items[0].start) {
                                    let dc = column(src, d);
                                    if dc >= kc {
                                        *seqs.entry(dc - kc).or_default() += 1;
                                    }
                                }
                            }
                            _ => {}
                        }
                    }
                    visit(src, v, steps, seqs);
                }
            }
            Kind::Seq { items, .. } => items.iter().for_each(|i| visit(src, i, steps, seqs)),
            _ => {}
        }
    }
    for d in &stream.docs {
        visit(src, &d.root, &mut steps, &mut seqs);
    }
    let mode = |m: &HashMap<usize, usize>| {
        m.iter()
            .max_by_key(|(step, count)| (**count, std::cmp::Reverse(**step)))
            .map(|(step, _)| *step)
    };
    let step = mode(&steps).unwrap_or(2);
    Indent {
        step,
        seq: mode(&seqs).unwrap_or(step),
    }
}
