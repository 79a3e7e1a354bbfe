//! The HTTP edge: the axum router, request logging and fault injection around the
//! generic handler, discovery and OpenAPI documents, and the `/testkit/*` endpoints.

use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::discovery;
use crate::error::{ApiError, ApiResult};
use crate::faults::{Action, Fault, RequestRecord, Verb};
use crate::handler::{Cluster, Write};
use crate::patch::PatchType;
use crate::readiness::FailImages;
use crate::request::{route, Query, Route, Target};
use crate::shared::{lock, Shared};
use crate::table;

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route(
            "/testkit/requests",
            get(requests_endpoint).delete(clear_requests_endpoint),
        )
        .route(
            "/testkit/faults",
            axum::routing::post(inject_endpoint).delete(clear_faults_endpoint),
        )
        .route(
            "/testkit/fail-readiness-images",
            get(fail_images_endpoint).put(set_fail_images_endpoint),
        )
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(|| async { "ok" }))
        .route("/livez", get(|| async { "ok" }))
        .fallback(dispatch)
        // The real API server accepts request bodies up to 3 MiB (large CRDs need it).
        .layer(axum::extract::DefaultBodyLimit::max(3 * 1024 * 1024))
        .with_state(shared)
}

async fn requests_endpoint(State(s): State<Arc<Shared>>) -> Json<Vec<RequestRecord>> {
    Json(lock(&s.log).clone())
}

async fn clear_requests_endpoint(State(s): State<Arc<Shared>>) -> StatusCode {
    lock(&s.log).clear();
    StatusCode::NO_CONTENT
}

async fn inject_endpoint(State(s): State<Arc<Shared>>, body: Bytes) -> Response {
    // kubectl `create --raw` sends no JSON content type, so parse whatever arrives.
    match serde_json::from_slice::<Fault>(&body) {
        Ok(fault) => {
            lock(&s.faults).add(fault);
            StatusCode::CREATED.into_response()
        }
        Err(e) => error_response(&ApiError::bad_request(format!("not a fault: {e}"))),
    }
}

async fn clear_faults_endpoint(State(s): State<Arc<Shared>>) -> StatusCode {
    lock(&s.faults).clear();
    StatusCode::NO_CONTENT
}

async fn fail_images_endpoint(State(s): State<Arc<Shared>>) -> Json<FailImages> {
    Json(lock(&s.fail_images).clone())
}

/// `PUT` a JSON list of image substrings (`kubectl replace --raw … -f list.json`): it replaces
/// the set, `[]` clears it; the answer is the set now in force.
async fn set_fail_images_endpoint(State(s): State<Arc<Shared>>, body: Bytes) -> Response {
    match serde_json::from_slice::<Vec<String>>(&body) {
        Ok(list) if list.iter().any(String::is_empty) => error_response(&ApiError::bad_request(
            "an empty image substring would fail every image; list only the images that fail",
        )),
        Ok(list) => {
            let images = FailImages::new(list);
            *lock(&s.fail_images) = images.clone();
            json_response(200, &json!(images))
        }
        Err(e) => error_response(&ApiError::bad_request(format!(
            "not a JSON list of image substrings: {e}"
        ))),
    }
}

fn json_response(code: u16, body: &Value) -> Response {
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn error_response(e: &ApiError) -> Response {
    json_response(e.code, &e.to_status())
}

fn verb_of(method: &Method, t: &Target, q: &Query) -> Verb {
    match *method {
        Method::POST => Verb::Create,
        Method::PUT => Verb::Update,
        Method::PATCH => Verb::Patch,
        Method::DELETE if t.name.is_none() => Verb::DeleteCollection,
        Method::DELETE => Verb::Delete,
        _ if t.name.is_some() && !t.watch_prefix && !q.flag("watch") => Verb::Get,
        _ if t.watch_prefix || q.flag("watch") => Verb::Watch,
        _ => Verb::List,
    }
}

fn user_agent_manager(headers: &HeaderMap) -> Option<String> {
    let ua = headers.get(header::USER_AGENT)?.to_str().ok()?;
    ua.split('/')
        .next()
        .map(str::to_string)
        .filter(|s| !s.is_empty())
}

async fn dispatch(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let query = Query::parse(uri.query());
    let routed = route(uri.path(), &lock(&shared.cluster).registry);
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let patch_type = (method == Method::PATCH)
        .then(|| PatchType::from_content_type(&content_type))
        .flatten();
    let target = match &routed {
        Ok(Route::Resource(t)) => Some((**t).clone()),
        _ => None,
    };
    let manager = query
        .get("fieldManager")
        .map(str::to_string)
        .or_else(|| user_agent_manager(&headers));
    let seq = {
        let mut log = lock(&shared.log);
        let seq = log.len() as u64;
        log.push(RequestRecord {
            seq,
            verb: target
                .as_ref()
                .map_or(Verb::Get, |t| verb_of(&method, t, &query)),
            method: method.to_string(),
            path: uri.path().to_string(),
            query: uri.query().unwrap_or_default().to_string(),
            resource: target.as_ref().map(|t| t.rt.plural.clone()),
            namespace: target.as_ref().and_then(|t| t.namespace.clone()),
            name: target.as_ref().and_then(|t| t.name.clone()),
            subresource: target.as_ref().and_then(|t| t.subresource.clone()),
            field_manager: manager.clone().filter(|_| method != Method::GET),
            user_agent: headers
                .get(header::USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string),
            patch_type,
            dry_run: query.dry_run(),
            force: query.flag("force"),
            status: 0,
            body: (method != Method::GET && !body.is_empty())
                .then(|| {
                    serde_json::from_slice(&body)
                        .or_else(|_| serde_yaml_ng::from_slice(&body))
                        .ok()
                })
                .flatten(),
        });
        seq
    };
    let record = lock(&shared.log)[seq as usize].clone();
    let actions = lock(&shared.faults).fire_all(|f| f.matching.matches(&record));
    let (drop_after, response) = faults(actions).await;
    let response = match response {
        Some(r) => r,
        None => {
            let accept = headers
                .get(header::ACCEPT)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            let inc = Incoming {
                method: &method,
                query: &query,
                body: &body,
                content_type: &content_type,
                accept,
                patch_type,
                manager,
                drop_after,
            };
            serve_route(&shared, routed, inc)
        }
    };
    let status = response.status().as_u16();
    if let Some(r) = lock(&shared.log).get_mut(seq as usize) {
        r.status = status;
    }
    tracing::debug!(seq, verb = ?record.verb, path = %record.path, status, "kube-testkit request");
    response
}

/// Carries out the faults a request fired: waits out delays, and gives the watch's drop time
/// and the injected error answer, if any.
async fn faults(actions: Vec<Action>) -> (Option<Duration>, Option<Response>) {
    let mut drop_after = None;
    let mut response = None;
    for action in actions {
        match action {
            Action::Delay { millis } => tokio::time::sleep(Duration::from_millis(millis)).await,
            Action::DropWatch { after_millis } => {
                drop_after = Some(Duration::from_millis(after_millis))
            }
            Action::Error { code } => {
                let reason = if code == 503 {
                    "ServiceUnavailable"
                } else {
                    "InternalError"
                };
                response = Some(error_response(&ApiError::new(
                    code,
                    reason,
                    "injected fault (kube-testkit)",
                )));
            }
            Action::TooManyRequests {
                retry_after_seconds,
            } => {
                let mut r = error_response(&ApiError::new(
                    429,
                    "TooManyRequests",
                    "injected throttling (kube-testkit), please try again later",
                ));
                if let Ok(v) = retry_after_seconds.to_string().parse() {
                    r.headers_mut().insert(header::RETRY_AFTER, v);
                }
                response = Some(r);
            }
        }
    }
    (drop_after, response)
}

/// One API request, decoded at the edge.
struct Incoming<'a> {
    method: &'a Method,
    query: &'a Query,
    body: &'a [u8],
    content_type: &'a str,
    accept: &'a str,
    patch_type: Option<PatchType>,
    manager: Option<String>,
    drop_after: Option<Duration>,
}

/// Discovery and OpenAPI documents; `Err(target)` for a resource request.
fn serve_document(
    shared: &Shared,
    cluster: &Cluster,
    routed: Route,
    accept: &str,
) -> Result<ApiResult<Response>, Box<Target>> {
    let ok = |v: Value| Ok(json_response(200, &v));
    let registry = &cluster.registry;
    let aggregated = accept.contains("as=APIGroupDiscoveryList") && accept.contains("v=v2;");
    Ok(match routed {
        Route::Version => ok(discovery::version()),
        Route::CoreVersions | Route::Groups if aggregated => {
            let doc = discovery::aggregated(registry, matches!(routed, Route::CoreVersions));
            let mut r = json_response(200, &doc);
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                discovery::AGGREGATED_CONTENT_TYPE
                    .parse()
                    .expect("a valid header value"),
            );
            Ok(r)
        }
        Route::CoreVersions => ok(discovery::core_versions(&shared.addr.to_string())),
        Route::Groups => ok(discovery::groups(registry)),
        Route::Group(g) => {
            discovery::group(registry, &g).map_or_else(|| Err(ApiError::not_found_path(&g)), ok)
        }
        Route::Resources { group, version } => ok(discovery::resources(registry, &group, &version)),
        Route::OpenApiRoot => ok(crate::openapi::root(registry)),
        Route::OpenApi { group, version } if registry.serves(&group, &version) => {
            ok(crate::openapi::group_version(registry, &group, &version))
        }
        Route::OpenApi { group, .. } => Err(ApiError::not_found_path(&group)),
        Route::Resource(t) => return Err(t),
    })
}

fn serve_route(shared: &Shared, routed: ApiResult<Route>, inc: Incoming<'_>) -> Response {
    let result = (|| -> ApiResult<Response> {
        let mut cluster = lock(&shared.cluster);
        let t = match serve_document(shared, &cluster, routed?, inc.accept) {
            Ok(answer) => return answer,
            Err(t) => t,
        };
        serve_resource(shared, &mut cluster, &t, inc)
    })();
    result.unwrap_or_else(|e| error_response(&e))
}

fn serve_resource(
    shared: &Shared,
    cluster: &mut Cluster,
    t: &Target,
    inc: Incoming<'_>,
) -> ApiResult<Response> {
    let ok = |v: Value| json_response(200, &v);
    let (method, query, content_type) = (inc.method, inc.query, inc.content_type);
    let binary = ["application/vnd.kubernetes.protobuf", "application/cbor"];
    if binary.iter().any(|b| content_type.starts_with(b)) {
        return Err(ApiError::new(
            415,
            "UnsupportedMediaType",
            format!("kube-testkit accepts JSON and YAML bodies only, not {content_type} (kubectl's `create <generator>`/`run` send protobuf: use `kubectl apply` or `create -f`)"),
        ));
    }
    // Tables are for plain reads; subresources keep their own kinds.
    let as_table = table::wanted(inc.accept) && t.subresource.is_none();
    let write = Write {
        target: t,
        query,
        body: inc.body,
        content_type,
        manager: inc.manager,
    };
    match (method.clone(), verb_of(method, t, query)) {
        (_, Verb::Watch) => {
            let spec = crate::watch::WatchSpec {
                bookmark_interval: shared.options.bookmark_interval,
                drop_after: inc.drop_after,
                shutdown: shared.shutdown.clone(),
                cut: shared.cut.subscribe(),
                table: as_table,
            };
            let stream = crate::watch::start(cluster, t, query, spec)?;
            Ok((
                [(header::CONTENT_TYPE, "application/json")],
                Body::from_stream(stream),
            )
                .into_response())
        }
        (_, Verb::Get) if as_table => {
            let obj = cluster.get(t)?;
            let meta = json!({"resourceVersion": obj.pointer("/metadata/resourceVersion")});
            Ok(ok(table::to_table(&t.rt, &[obj], meta)))
        }
        (_, Verb::Get) => Ok(ok(cluster.get(t)?)),
        (_, Verb::List) if as_table => {
            let list = cluster.list(t, query)?;
            let items = list["items"].as_array().cloned().unwrap_or_default();
            Ok(ok(table::to_table(&t.rt, &items, list["metadata"].clone())))
        }
        (_, Verb::List) => Ok(ok(cluster.list(t, query)?)),
        (Method::POST, _) if t.name.is_none() && t.subresource.is_none() => {
            Ok(json_response(201, &cluster.create(&write)?))
        }
        (Method::PUT, _) if t.name.is_some() => Ok(ok(cluster.update(&write)?)),
        (Method::PATCH, _) if t.name.is_some() => {
            let kind = inc
                .patch_type
                .ok_or_else(|| ApiError::unsupported_media_type(content_type))?;
            let (code, v) = cluster.patch(&write, kind)?;
            Ok(json_response(code, &v))
        }
        (Method::DELETE, Verb::DeleteCollection) => Ok(ok(cluster.delete_collection(t, query)?)),
        (Method::DELETE, _) if t.subresource.is_none() => {
            Ok(ok(cluster.delete(t, query, inc.body)?))
        }
        _ => Err(ApiError::method_not_allowed(method.as_str())),
    }
}
