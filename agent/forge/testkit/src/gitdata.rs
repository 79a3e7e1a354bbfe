//! Git data: refs, blobs, trees, commits and file contents, as GitHub's `git/*` and
//! `contents` endpoints answer them.

use serde_json::Value;

use crate::reply::{str_field, strings, Reply, R};
use crate::shapes::{self, Ctx};
use crate::state::State;

pub(crate) fn get_ref(ctx: &Ctx, st: &State, r: &str) -> R {
    let name = format!("refs/{r}");
    let sha = st.git.ref_target(&name).ok_or_else(Reply::not_found)?;
    Ok(Reply::json(200, shapes::git_ref(ctx, &name, &sha)))
}

pub(crate) fn create_ref(ctx: &Ctx, st: &mut State, b: &Value) -> R {
    let name = str_field(b, "ref")?;
    let sha = str_field(b, "sha")?;
    st.git.create_ref(name, sha)?;
    Ok(Reply::json(201, shapes::git_ref(ctx, name, sha)))
}

pub(crate) fn update_ref(ctx: &Ctx, st: &mut State, r: &str, b: &Value) -> R {
    let name = format!("refs/{r}");
    let sha = str_field(b, "sha")?;
    if st.is_protected(&name) {
        return Err(Reply::error(
            422,
            &format!("Protected branch update failed for {name}."),
        ));
    }
    st.git
        .update_ref(&name, sha, b["force"].as_bool().unwrap_or(false))?;
    Ok(Reply::json(200, shapes::git_ref(ctx, &name, sha)))
}

pub(crate) fn delete_ref(st: &mut State, r: &str) -> R {
    let name = format!("refs/{r}");
    if st.is_protected(&name) {
        return Err(Reply::error(422, "Cannot delete this protected branch."));
    }
    st.git.delete_ref(&name)?;
    Ok(Reply::empty(204))
}

pub(crate) fn create_blob(ctx: &Ctx, st: &mut State, b: &Value) -> R {
    use base64::Engine;
    let content = str_field(b, "content")?;
    let bytes = match b["encoding"].as_str().unwrap_or("utf-8") {
        "base64" => {
            let clean: String = content.chars().filter(|c| !c.is_whitespace()).collect();
            base64::engine::general_purpose::STANDARD
                .decode(clean)
                .map_err(|_| Reply::invalid("content is not valid Base64", "Blob", "invalid"))?
        }
        "utf-8" => content.as_bytes().to_vec(),
        other => {
            return Err(Reply::invalid(
                &format!("encoding {other} is not supported"),
                "Blob",
                "invalid",
            ))
        }
    };
    let sha = st.git.blob(&bytes)?;
    Ok(Reply::json(201, shapes::blob(ctx, &sha)))
}

pub(crate) fn create_tree(ctx: &Ctx, st: &mut State, b: &Value) -> R {
    let items = b["tree"].as_array().ok_or_else(|| {
        Reply::invalid(
            "Invalid request.\n\n\"tree\" wasn't supplied.",
            "Tree",
            "missing_field",
        )
    })?;
    let mut entries = Vec::new();
    for item in items {
        let path = str_field(item, "path")?.to_string();
        let mode = item["mode"].as_str().unwrap_or("100644").to_string();
        if item["type"].as_str().is_some_and(|t| t != "blob") {
            return Err(Reply::invalid(
                "only blob entries are supported by the fake",
                "Tree",
                "invalid",
            ));
        }
        let sha = match (&item["sha"], item["content"].as_str()) {
            (Value::String(s), _) => Some(s.clone()),
            (_, Some(content)) => Some(st.git.blob(content.as_bytes())?),
            (Value::Null, None) if item.get("sha").is_some() => None,
            _ => {
                return Err(Reply::invalid(
                    "tree entry needs sha or content",
                    "Tree",
                    "missing_field",
                ))
            }
        };
        entries.push((path, mode, sha));
    }
    let sha = st.git.tree(b["base_tree"].as_str(), &entries)?;
    let listing = st.git.tree_entries(&sha)?;
    Ok(Reply::json(201, shapes::tree(ctx, &sha, &listing)))
}

pub(crate) fn create_commit(ctx: &Ctx, st: &mut State, b: &Value) -> R {
    let message = str_field(b, "message")?;
    let tree = str_field(b, "tree")?;
    let parents = strings(b, "parents");
    let sha = st.git.commit(message, tree, &parents)?;
    Ok(Reply::json(
        201,
        shapes::commit(ctx, &st.git.commit_info(&sha)?),
    ))
}

pub(crate) fn contents(ctx: &Ctx, st: &State, path: &str, rev: Option<&str>) -> R {
    let rev = rev.unwrap_or(&st.default_branch);
    let (sha, bytes) = st.git.file_at(rev, path)?;
    Ok(Reply::json(
        200,
        shapes::content_file(ctx, path, rev, &sha, &bytes),
    ))
}
