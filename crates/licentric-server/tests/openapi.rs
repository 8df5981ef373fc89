//! `docs/api/openapi.yaml` cannot drift from the server: every documented operation exists,
//! every route in the code is documented, and real answers — statuses and bodies — match the
//! documented schemas.

use std::collections::BTreeSet;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::harness::{Sandbox, fingerprint};

struct Spec(Value);

impl Spec {
    fn load() -> Spec {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/api/openapi.yaml");
        let text = std::fs::read_to_string(path).unwrap();
        Spec(serde_norway::from_str(&text).unwrap())
    }

    fn resolve<'a>(&'a self, mut node: &'a Value) -> &'a Value {
        while let Some(r) = node.get("$ref").and_then(Value::as_str) {
            let mut target = &self.0;
            for part in r.trim_start_matches("#/").split('/') {
                target = &target[part];
            }
            assert!(!target.is_null(), "unresolved $ref {r}");
            node = target;
        }
        node
    }

    fn operations(&self) -> Vec<(String, String)> {
        let mut ops = Vec::new();
        for (path, item) in self.0["paths"].as_object().unwrap() {
            for method in item.as_object().unwrap().keys() {
                ops.push((method.to_uppercase(), path.clone()));
            }
        }
        ops
    }

    /// Checks `value` against `schema`; returns what does not match.
    fn check(&self, schema: &Value, value: &Value, at: &str, errors: &mut Vec<String>) {
        let schema = self.resolve(schema);
        if let Some(types) = schema.get("type") {
            let allowed: Vec<&str> = match types {
                Value::String(t) => vec![t.as_str()],
                Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
                _ => vec![],
            };
            let actual = match value {
                Value::Null => "null",
                Value::Bool(_) => "boolean",
                Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
                Value::Number(_) => "number",
                Value::String(_) => "string",
                Value::Array(_) => "array",
                Value::Object(_) => "object",
            };
            if !allowed
                .iter()
                .any(|t| *t == actual || (*t == "number" && actual == "integer"))
            {
                errors.push(format!("{at}: {actual} where {allowed:?} is documented"));
                return;
            }
        }
        if let Some(options) = schema.get("enum").and_then(Value::as_array)
            && !options.contains(value)
        {
            errors.push(format!("{at}: {value} is not one of the documented values"));
        }
        if let (Some(pattern), Some(text)) = (
            schema.get("pattern").and_then(Value::as_str),
            value.as_str(),
        ) && !regex::Regex::new(pattern).unwrap().is_match(text)
        {
            errors.push(format!("{at}: {text:.40?} does not match {pattern}"));
        }
        if let Value::Object(map) = value {
            let properties = schema.get("properties").and_then(Value::as_object);
            for required in schema
                .get("required")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if !map.contains_key(required.as_str().unwrap()) {
                    errors.push(format!("{at}: missing required {required}"));
                }
            }
            for (key, item) in map {
                match properties.and_then(|p| p.get(key)) {
                    Some(sub) => self.check(sub, item, &format!("{at}.{key}"), errors),
                    None if schema.get("additionalProperties") == Some(&Value::Bool(false)) => {
                        errors.push(format!("{at}: undocumented member {key}"));
                    }
                    None => {}
                }
            }
        }
        if let (Some(items), Value::Array(values)) = (schema.get("items"), value) {
            for (i, item) in values.iter().enumerate() {
                self.check(items, item, &format!("{at}[{i}]"), errors);
            }
        }
    }

    /// Checks a real exchange: the status is documented for the operation and the body
    /// matches its schema.
    fn check_exchange(
        &self,
        method: &Method,
        template: &str,
        status: StatusCode,
        body: &Value,
    ) -> Vec<String> {
        let operation = &self.0["paths"][template][method.as_str().to_lowercase()];
        assert!(
            !operation.is_null(),
            "{method} {template} is not documented"
        );
        let response = &operation["responses"][status.as_str()];
        if response.is_null() {
            return vec![format!(
                "{method} {template}: status {status} is not documented"
            )];
        }
        let response = self.resolve(response);
        let schema = &response["content"]["application/json"]["schema"];
        let mut errors = Vec::new();
        match (schema.is_null(), body.is_null()) {
            (true, true) => {}
            (true, false) => errors.push(format!(
                "{method} {template} {status}: a body where none is documented"
            )),
            (false, true) => errors.push(format!(
                "{method} {template} {status}: no body where one is documented"
            )),
            (false, false) => self.check(
                schema,
                body,
                &format!("{method} {template} {status}"),
                &mut errors,
            ),
        }
        errors
    }
}

fn normalise(path: &str) -> String {
    let mut out = String::new();
    let mut depth = 0;
    for c in path.chars() {
        match c {
            '{' => {
                depth += 1;
                out.push_str("{}");
            }
            '}' => depth -= 1,
            _ if depth > 0 => {}
            _ => out.push(c),
        }
    }
    out
}

#[test]
fn every_route_in_the_code_is_documented() {
    let spec = Spec::load();
    let documented: BTreeSet<String> = spec.0["paths"]
        .as_object()
        .unwrap()
        .keys()
        .map(|p| normalise(p))
        .collect();
    let mut found = 0;
    for (file, prefix) in [
        ("src/http/mod.rs", ""),
        ("src/http/admin/mod.rs", "/v1/admin"),
    ] {
        let source =
            std::fs::read_to_string(format!("{}/{file}", env!("CARGO_MANIFEST_DIR"))).unwrap();
        for piece in source.split(".route(\"").skip(1) {
            let route = &piece[..piece.find('"').unwrap()];
            let full = normalise(&format!("{prefix}{route}"));
            assert!(
                documented.contains(&full),
                "{full} (from {file}) is not in openapi.yaml"
            );
            found += 1;
        }
    }
    assert!(
        found >= 19,
        "only {found} routes found in the code: has the router moved?"
    );
}

#[tokio::test]
async fn every_documented_operation_exists() {
    let spec = Spec::load();
    let s = Sandbox::start().await;
    let placeholder = regex::Regex::new(r"\{[^}]+\}").unwrap();
    for (method, path) in spec.operations() {
        let concrete = placeholder.replace_all(&path, "x_missing").into_owned();
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        let (status, body) = s
            .call(method.clone(), &concrete, None, Some(json!({})))
            .await;
        assert_ne!(
            status,
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path} is documented but not served"
        );
        assert_ne!(
            body["error"]["message"], "no such endpoint",
            "{method} {path} is documented but not served"
        );
    }
    s.stop().await;
}

#[tokio::test]
async fn real_answers_match_the_documented_schemas() {
    let spec = Spec::load();
    let s = Sandbox::start().await;
    let admin = format!("Bearer {}", s.admin_token);
    let mut errors = Vec::new();
    let mut seen = BTreeSet::new();
    // (method, concrete path, documented template, auth, body)
    let mut exchange = async |method: Method,
                              path: &str,
                              template: &str,
                              auth: Option<&str>,
                              body: Option<Value>| {
        let (status, answer) = s.call(method.clone(), path, auth, body).await;
        errors.extend(spec.check_exchange(&method, template, status, &answer));
        seen.insert(format!("{method} {template} {status}"));
        answer
    };

    exchange(
        Method::POST,
        "/v1/admin/products",
        "/v1/admin/products",
        Some(&admin),
        Some(json!({"id": "acme-cad", "name": "Acme CAD", "key_prefix": "ACME"})),
    )
    .await;
    exchange(
        Method::POST,
        "/v1/admin/products",
        "/v1/admin/products",
        Some(&admin),
        Some(json!({"id": "acme-cad", "name": "Acme CAD", "key_prefix": "ACME"})),
    )
    .await;
    exchange(
        Method::GET,
        "/v1/admin/products",
        "/v1/admin/products",
        Some(&admin),
        None,
    )
    .await;
    exchange(
        Method::PATCH,
        "/v1/admin/products/acme-cad",
        "/v1/admin/products/{product_id}",
        Some(&admin),
        Some(json!({"max_ttl_seconds": 86_400, "seat_moves_per_seat": 5})),
    )
    .await;
    exchange(
        Method::PATCH,
        "/v1/admin/products/acme-cad",
        "/v1/admin/products/{product_id}",
        Some(&admin),
        Some(json!({"seat_moves_per_seat": 0})),
    )
    .await;
    let created = exchange(
        Method::POST,
        "/v1/admin/licenses",
        "/v1/admin/licenses",
        Some(&admin),
        Some(json!({"product_id": "acme-cad", "max_machines": 1, "entitlements": ["pro"]})),
    )
    .await;
    let id = created["license"]["id"].as_str().unwrap().to_owned();
    let key = format!("License {}", created["key"].as_str().unwrap());
    let lic = "/v1/admin/licenses/{license_id}";
    exchange(
        Method::GET,
        "/v1/admin/licenses",
        "/v1/admin/licenses",
        Some(&admin),
        None,
    )
    .await;
    exchange(
        Method::GET,
        &format!("/v1/admin/licenses/{id}"),
        lic,
        Some(&admin),
        None,
    )
    .await;
    exchange(
        Method::GET,
        "/v1/admin/licenses/lic_none",
        lic,
        Some(&admin),
        None,
    )
    .await;
    exchange(
        Method::PATCH,
        &format!("/v1/admin/licenses/{id}"),
        lic,
        Some(&admin),
        Some(json!({"entitlements": ["pro", "cad"]})),
    )
    .await;
    exchange(
        Method::GET,
        &format!("/v1/admin/licenses/{id}/key"),
        "/v1/admin/licenses/{license_id}/key",
        Some(&admin),
        None,
    )
    .await;

    let act = "/v1/activations";
    let fp = fingerprint(1);
    let activated = exchange(
        Method::POST,
        act,
        act,
        Some(&key),
        Some(crate::harness::activation_body(&fp, "n1")),
    )
    .await;
    exchange(
        Method::POST,
        act,
        act,
        Some(&key),
        Some(crate::harness::activation_body(&fp, "n2")),
    )
    .await;
    exchange(
        Method::POST,
        act,
        act,
        Some(&key),
        Some(crate::harness::activation_body(&fingerprint(2), "n3")),
    )
    .await;
    exchange(
        Method::POST,
        act,
        act,
        Some("License ACME-0000-0000-0000-0000"),
        Some(crate::harness::activation_body(&fp, "n")),
    )
    .await;
    exchange(Method::POST, act, act, Some(&key), Some(json!({"fingerprint": "zz", "platform": "", "hostname": "", "app_version": "", "nonce": "n"}))).await;
    exchange(Method::POST, act, act, Some(&key), Some(json!({"nope": 1}))).await;
    let machine = activated["machine_id"].as_str().unwrap().to_owned();
    let checkout = "/v1/machines/{machine_id}/checkout";
    exchange(
        Method::POST,
        &format!("/v1/machines/{machine}/checkout"),
        checkout,
        Some(&key),
        Some(json!({"fingerprint": fp, "nonce": "c"})),
    )
    .await;
    exchange(
        Method::POST,
        "/v1/machines/mach_none/checkout",
        checkout,
        Some(&key),
        Some(json!({"fingerprint": fp, "nonce": "c"})),
    )
    .await;
    let validate = "/v1/machines/{machine_id}/validate";
    exchange(
        Method::POST,
        &format!("/v1/machines/{machine}/validate"),
        validate,
        Some(&key),
        Some(json!({"fingerprint": fp, "nonce": "v"})),
    )
    .await;
    exchange(
        Method::POST,
        "/v1/machines/mach_none/validate",
        validate,
        Some(&key),
        Some(json!({"fingerprint": fp, "nonce": "v"})),
    )
    .await;
    exchange(
        Method::POST,
        &format!("/v1/admin/licenses/{id}/suspend"),
        "/v1/admin/licenses/{license_id}/suspend",
        Some(&admin),
        None,
    )
    .await;
    exchange(
        Method::POST,
        &format!("/v1/machines/{machine}/checkout"),
        checkout,
        Some(&key),
        Some(json!({"fingerprint": fp, "nonce": "c"})),
    )
    .await;
    exchange(
        Method::POST,
        &format!("/v1/admin/licenses/{id}/suspend"),
        "/v1/admin/licenses/{license_id}/suspend",
        Some(&admin),
        None,
    )
    .await;
    exchange(
        Method::POST,
        &format!("/v1/admin/licenses/{id}/reinstate"),
        "/v1/admin/licenses/{license_id}/reinstate",
        Some(&admin),
        None,
    )
    .await;
    exchange(
        Method::GET,
        &format!("/v1/admin/licenses/{id}/machines"),
        "/v1/admin/licenses/{license_id}/machines",
        Some(&admin),
        None,
    )
    .await;
    exchange(
        Method::DELETE,
        &format!("/v1/machines/{machine}"),
        "/v1/machines/{machine_id}",
        Some(&key),
        None,
    )
    .await;
    exchange(
        Method::DELETE,
        &format!("/v1/machines/{machine}"),
        "/v1/machines/{machine_id}",
        Some(&key),
        None,
    )
    .await;
    exchange(
        Method::DELETE,
        "/v1/admin/machines/mach_none",
        "/v1/admin/machines/{machine_id}",
        Some(&admin),
        None,
    )
    .await;
    exchange(
        Method::POST,
        "/v1/offline-activations",
        "/v1/offline-activations",
        Some(&key),
        Some(json!({"request": "nonsense"})),
    )
    .await;

    let created = exchange(
        Method::POST,
        "/v1/admin/api-keys",
        "/v1/admin/api-keys",
        Some(&admin),
        Some(json!({"name": "reader", "scopes": ["licenses:read"]})),
    )
    .await;
    let reader = format!("Bearer {}", created["token"].as_str().unwrap());
    exchange(
        Method::GET,
        "/v1/admin/api-keys",
        "/v1/admin/api-keys",
        Some(&admin),
        None,
    )
    .await;
    exchange(
        Method::POST,
        &format!("/v1/admin/licenses/{id}/revoke"),
        "/v1/admin/licenses/{license_id}/revoke",
        Some(&reader),
        None,
    )
    .await;
    exchange(
        Method::GET,
        "/v1/admin/licenses",
        "/v1/admin/licenses",
        None,
        None,
    )
    .await;
    let key_id = created["api_key"]["id"].as_str().unwrap().to_owned();
    exchange(
        Method::DELETE,
        &format!("/v1/admin/api-keys/{key_id}"),
        "/v1/admin/api-keys/{api_key_id}",
        Some(&admin),
        None,
    )
    .await;
    let hook = exchange(
        Method::POST,
        "/v1/admin/webhooks",
        "/v1/admin/webhooks",
        Some(&admin),
        Some(json!({"url": "https://hooks.example.com/h"})),
    )
    .await;
    exchange(
        Method::POST,
        "/v1/admin/webhooks",
        "/v1/admin/webhooks",
        Some(&admin),
        Some(json!({"url": "http://example.com/h"})),
    )
    .await;
    exchange(
        Method::GET,
        "/v1/admin/webhooks",
        "/v1/admin/webhooks",
        Some(&admin),
        None,
    )
    .await;
    let hook_id = hook["webhook"]["id"].as_str().unwrap().to_owned();
    exchange(
        Method::DELETE,
        &format!("/v1/admin/webhooks/{hook_id}"),
        "/v1/admin/webhooks/{webhook_id}",
        Some(&admin),
        None,
    )
    .await;
    exchange(
        Method::POST,
        &format!("/v1/admin/licenses/{id}/revoke"),
        "/v1/admin/licenses/{license_id}/revoke",
        Some(&admin),
        None,
    )
    .await;
    exchange(
        Method::POST,
        act,
        act,
        Some(&key),
        Some(crate::harness::activation_body(&fp, "n9")),
    )
    .await;
    exchange(Method::GET, "/healthz", "/healthz", None, None).await;
    exchange(Method::GET, "/v1/keys", "/v1/keys", None, None).await;
    exchange(
        Method::GET,
        "/v1/admin/audit-events?limit=2",
        "/v1/admin/audit-events",
        Some(&admin),
        None,
    )
    .await;
    exchange(
        Method::GET,
        &format!("/v1/admin/audit-events?license_id={id}"),
        "/v1/admin/audit-events",
        Some(&admin),
        None,
    )
    .await;

    assert!(
        errors.is_empty(),
        "answers that differ from openapi.yaml:\n{}",
        errors.join("\n")
    );
    assert!(
        seen.len() >= 35,
        "only {} distinct exchanges were checked: {seen:?}",
        seen.len()
    );
    s.stop().await;
}
