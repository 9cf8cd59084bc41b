//! Rightfoot's OpenAPI document (`tests/data/rightfoot-openapi.yaml`) as a contract for
//! requests: the operations it lists, and JSON Schema validators for each operation's
//! query string, path parameters and JSON request body, built from the document itself
//! (every `$ref` resolved into `components`). And as a contract for responses
//! ([`ResponseContract`]): the component schemas of the answers, closed to undocumented
//! properties, and the CSV export's fixed header.
//!
//! Two readings are stricter than the document's letter, on purpose:
//! - Query strings carry only documented parameters (an undocumented one, such as the
//!   `next_page_token` spelling of the cursor, is a violation), and a parameter that
//!   is not an array appears at most once.
//! - Request-body objects carry only documented properties (`unevaluatedProperties:
//!   false`, under which the properties of the `Authorizer` `anyOf` branch that matched
//!   count as documented): nothing undocumented, lender metadata say, may travel to
//!   Rightfoot next to personal data.
//!
//! Formats (`uuid`, `uri`) are validated. Query values are typed by their parameter's
//! schema before validation: `limit=abc` stays a string and fails `type: integer`.

use std::collections::BTreeMap;
use std::path::Path;

use axum::http::HeaderMap;
use serde_json::{Map, Value, json};

/// Where the document lives, relative to the crate root (the tests' working directory).
pub const OPENAPI_PATH: &str = "tests/data/rightfoot-openapi.yaml";

/// The OpenAPI document, parsed with the crate's one YAML loader.
pub fn load() -> Value {
    let text = std::fs::read_to_string(OPENAPI_PATH).unwrap();
    balance_monitor::yaml::from_str::<Value>(&text, Path::new(OPENAPI_PATH))
        .expect("the OpenAPI document parses")
}

/// How a query parameter's text becomes JSON before validation.
#[derive(Clone, Debug)]
enum QueryShape {
    /// One value of this JSON Schema type.
    Scalar(String),
    /// `style: form, explode: true`: the parameter repeated, items of this type.
    Array(String),
}

enum Segment {
    Literal(String),
    Parameter {
        name: String,
        schema: jsonschema::Validator,
    },
}

/// One operation of the document.
pub struct Operation {
    /// Upper-case, e.g. `GET`.
    pub method: String,
    /// The path template, e.g. `/v1/monitoring/authorizers/{id}/history`.
    pub template: String,
    segments: Vec<Segment>,
    query: jsonschema::Validator,
    query_shapes: BTreeMap<String, QueryShape>,
    /// The request body's content type, whether it is required, and its validator.
    body: Option<(String, bool, jsonschema::Validator)>,
    /// Whether the operation's security is an HTTP bearer token.
    bearer: bool,
}

impl Operation {
    /// `METHOD /template`.
    pub fn id(&self) -> String {
        format!("{} {}", self.method, self.template)
    }

    fn matches(&self, method: &str, path: &str) -> bool {
        let parts: Vec<&str> = path.split('/').collect();
        method.eq_ignore_ascii_case(&self.method)
            && parts.len() == self.segments.len()
            && parts
                .iter()
                .zip(&self.segments)
                .all(|(part, segment)| match segment {
                    Segment::Literal(literal) => part == literal,
                    Segment::Parameter { .. } => !part.is_empty(),
                })
    }
}

/// Every operation of the document, ready to check requests against.
pub struct RequestContract {
    pub operations: Vec<Operation>,
}

impl RequestContract {
    pub fn from_spec(spec: &Value) -> RequestContract {
        let mut operations = Vec::new();
        let paths = spec["paths"].as_object().expect("the document has paths");
        for (template, item) in paths {
            let item = item.as_object().unwrap();
            for (method, operation) in item {
                if !["get", "put", "post", "delete", "patch", "head", "options"]
                    .contains(&method.as_str())
                {
                    continue;
                }
                operations.push(build_operation(spec, template, method, operation));
            }
        }
        RequestContract { operations }
    }

    /// Every operation's id, `METHOD /template`.
    pub fn operation_ids(&self) -> Vec<String> {
        self.operations.iter().map(Operation::id).collect()
    }

    /// Checks one request. Returns the operation's id, or every violation found.
    pub fn check(
        &self,
        method: &str,
        path: &str,
        query: Option<&str>,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<String, Vec<String>> {
        let Some(operation) = self.operations.iter().find(|o| o.matches(method, path)) else {
            return Err(vec![format!("{method} {path}: no such operation")]);
        };
        let id = operation.id();
        let mut problems = Vec::new();
        let report = |part: &str, validator: &jsonschema::Validator, instance: &Value| {
            validator
                .iter_errors(instance)
                .map(|error| format!("{id}: {part}: {error} at `{}`", error.instance_path()))
                .collect::<Vec<String>>()
        };

        for (part, segment) in path.split('/').zip(&operation.segments) {
            if let Segment::Parameter { name, schema } = segment {
                let value = Value::String(percent_decode(part));
                problems.extend(report(&format!("path parameter {name}"), schema, &value));
            }
        }

        let instance = query_instance(query, &operation.query_shapes);
        problems.extend(report("query", &operation.query, &instance));

        match &operation.body {
            Some((content_type, required, validator)) => {
                let sent_type = headers
                    .get("content-type")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default();
                if !sent_type.starts_with(content_type.as_str()) {
                    problems.push(format!(
                        "{id}: content-type {sent_type:?}, not {content_type}"
                    ));
                }
                if body.is_empty() {
                    if *required {
                        problems.push(format!("{id}: the request body is missing"));
                    }
                } else {
                    match serde_json::from_slice::<Value>(body) {
                        Ok(value) => problems.extend(report("body", validator, &value)),
                        Err(error) => problems.push(format!("{id}: body is not JSON: {error}")),
                    }
                }
            }
            None if !body.is_empty() => {
                problems.push(format!("{id}: a body was sent to an operation without one"));
            }
            None => {}
        }

        if operation.bearer {
            let bearer = headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
                .is_some_and(|token| !token.trim().is_empty());
            if !bearer {
                problems.push(format!("{id}: no bearer token"));
            }
        }

        if problems.is_empty() {
            Ok(id)
        } else {
            Err(problems)
        }
    }
}

fn build_operation(spec: &Value, template: &str, method: &str, operation: &Value) -> Operation {
    let mut path_schemas = BTreeMap::new();
    let mut properties = Map::new();
    let mut required = Vec::new();
    let mut query_shapes = BTreeMap::new();
    for parameter in operation["parameters"].as_array().into_iter().flatten() {
        let parameter = inline(spec, parameter, 0);
        let name = parameter["name"].as_str().unwrap().to_string();
        let schema = parameter.get("schema").cloned().unwrap_or(json!({}));
        match parameter["in"].as_str() {
            Some("path") => {
                path_schemas.insert(name, schema);
            }
            Some("query") => {
                let shape = match schema["type"].as_str() {
                    Some("array") => QueryShape::Array(
                        schema["items"]["type"]
                            .as_str()
                            .unwrap_or("string")
                            .to_string(),
                    ),
                    other => QueryShape::Scalar(other.unwrap_or("string").to_string()),
                };
                if parameter["required"] == Value::Bool(true) {
                    required.push(Value::String(name.clone()));
                }
                query_shapes.insert(name.clone(), shape);
                properties.insert(name, schema);
            }
            _ => {}
        }
    }
    let segments = template
        .split('/')
        .map(|part| {
            match part
                .strip_prefix('{')
                .and_then(|rest| rest.strip_suffix('}'))
            {
                Some(name) => Segment::Parameter {
                    name: name.to_string(),
                    schema: validator(
                        path_schemas
                            .get(name)
                            .unwrap_or_else(|| panic!("{template}: no schema for {{{name}}}")),
                    ),
                },
                None => Segment::Literal(part.to_string()),
            }
        })
        .collect();
    let query = validator(&json!({
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": false,
    }));
    let body = operation.get("requestBody").map(|request_body| {
        let request_body = inline(spec, request_body, 0);
        let (content_type, media) = request_body["content"]
            .as_object()
            .and_then(|content| content.iter().next())
            .expect("a request body has a content type");
        let mut schema = media["schema"].clone();
        close(&mut schema, true);
        let required = request_body["required"] == Value::Bool(true);
        (content_type.clone(), required, validator(&schema))
    });
    let bearer = operation
        .get("security")
        .or_else(|| spec.get("security"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_object)
        .flat_map(|requirement| requirement.keys())
        .any(|name| {
            let scheme = &spec["components"]["securitySchemes"][name];
            scheme["type"] == "http" && scheme["scheme"] == "bearer"
        });
    Operation {
        method: method.to_ascii_uppercase(),
        template: template.to_string(),
        segments,
        query,
        query_shapes,
        body,
        bearer,
    }
}

fn validator(schema: &Value) -> jsonschema::Validator {
    jsonschema::options()
        .should_validate_formats(true)
        .build(schema)
        .unwrap_or_else(|e| panic!("a schema from the document compiles: {e}\n{schema}"))
}

/// `value` with every local `$ref` replaced by a copy of its target, recursively;
/// `hops` counts the references followed to get here.
fn inline(spec: &Value, value: &Value, hops: usize) -> Value {
    assert!(hops < 32, "$ref chain too long (a cycle?)");
    match value {
        Value::Object(map) => {
            if let Some(Value::String(reference)) = map.get("$ref") {
                let pointer = reference
                    .strip_prefix('#')
                    .unwrap_or_else(|| panic!("only local references: {reference}"));
                let target = spec
                    .pointer(pointer)
                    .unwrap_or_else(|| panic!("{reference} does not resolve"));
                let mut resolved = inline(spec, target, hops + 1);
                // Keywords beside a `$ref` (3.1 allows them) are kept.
                if let Value::Object(resolved_map) = &mut resolved {
                    for (key, sibling) in map.iter().filter(|(k, _)| *k != "$ref") {
                        resolved_map.insert(key.clone(), inline(spec, sibling, hops));
                    }
                }
                return resolved;
            }
            Value::Object(
                map.iter()
                    .map(|(key, child)| (key.clone(), inline(spec, child, hops)))
                    .collect(),
            )
        }
        Value::Array(items) => {
            Value::Array(items.iter().map(|item| inline(spec, item, hops)).collect())
        }
        other => other.clone(),
    }
}

/// Forbids undocumented properties in every object schema of `schema` that lists its
/// properties, except the branches of `anyOf`/`oneOf`/`allOf` themselves (their
/// properties are evaluated as the parent's).
fn close(schema: &mut Value, close_self: bool) {
    let Value::Object(map) = schema else {
        return;
    };
    if close_self
        && map.contains_key("properties")
        && !map.contains_key("additionalProperties")
        && !map.contains_key("unevaluatedProperties")
    {
        map.insert("unevaluatedProperties".into(), Value::Bool(false));
    }
    if let Some(Value::Object(properties)) = map.get_mut("properties") {
        properties.values_mut().for_each(|p| close(p, true));
    }
    if let Some(items) = map.get_mut("items") {
        close(items, true);
    }
    for combinator in ["anyOf", "oneOf", "allOf"] {
        if let Some(Value::Array(branches)) = map.get_mut(combinator) {
            branches.iter_mut().for_each(|b| close(b, false));
        }
    }
}

/// The query string as a JSON object, each value typed by its parameter's shape.
fn query_instance(query: Option<&str>, shapes: &BTreeMap<String, QueryShape>) -> Value {
    let mut grouped: Vec<(String, Vec<String>)> = Vec::new();
    for (name, value) in url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        match grouped.iter_mut().find(|(n, _)| *n == name) {
            Some((_, values)) => values.push(value.into_owned()),
            None => grouped.push((name.into_owned(), vec![value.into_owned()])),
        }
    }
    let object = grouped
        .into_iter()
        .map(|(name, values)| {
            let value = match shapes.get(&name) {
                Some(QueryShape::Array(item)) => {
                    Value::Array(values.iter().map(|v| typed(v, item)).collect())
                }
                Some(QueryShape::Scalar(kind)) if values.len() == 1 => typed(&values[0], kind),
                // Repeated, or undocumented: kept as text for the schema to refuse.
                Some(QueryShape::Scalar(kind)) => {
                    Value::Array(values.iter().map(|v| typed(v, kind)).collect())
                }
                None => Value::String(values.join(",")),
            };
            (name, value)
        })
        .collect();
    Value::Object(object)
}

/// `text` as a JSON value of type `kind`, or as a string when it is not one.
fn typed(text: &str, kind: &str) -> Value {
    let as_text = || Value::String(text.to_string());
    match kind {
        "integer" => text.parse::<i64>().map_or_else(|_| as_text(), Value::from),
        "number" => text
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map_or_else(as_text, Value::Number),
        "boolean" => match text {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            _ => as_text(),
        },
        _ => as_text(),
    }
}

/// Decodes `%XX` escapes in a path segment (`+` stays a plus).
fn percent_decode(segment: &str) -> String {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let escaped = (bytes[index] == b'%')
            .then(|| bytes.get(index + 1..index + 3))
            .flatten()
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escaped {
            Some(byte) => {
                out.push(byte);
                index += 3;
            }
            None => {
                out.push(bytes[index]);
                index += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The document's response schemas, for checking answers that claim Rightfoot's shapes
/// (the local read API's).
///
/// Three readings are applied to the document, all from the API README (the same as
/// the sandbox's schema test applies): OpenAPI 3.0's `nullable: true`, left in this 3.1
/// document, allows `null`; the balances page's `next_page_token` is `null` on the last
/// page, as the history page says of its own; an error's `details` may be an object.
/// Beyond the document's letter, every object is closed (`unevaluatedProperties:
/// false`): an answer that adds a field is not in Rightfoot's shape.
pub struct ResponseContract {
    spec: Value,
}

impl ResponseContract {
    pub fn load() -> ResponseContract {
        let mut spec = load();
        allow_null(&mut spec);
        let schemas = &mut spec["components"]["schemas"];
        schemas["BatchBalancesResponse"]["properties"]["next_page_token"]["type"] =
            json!(["string", "null"]);
        schemas["ApiErrorResponse"]["properties"]["error"]["properties"]["details"]["type"] =
            json!(["string", "object"]);
        ResponseContract { spec }
    }

    /// Every violation of component schema `name` by `body`.
    pub fn violations(&self, name: &str, body: &Value) -> Vec<String> {
        let mut schema = inline(
            &self.spec,
            &json!({ "$ref": format!("#/components/schemas/{name}") }),
            0,
        );
        close(&mut schema, true);
        let validator = validator(&schema);
        validator
            .iter_errors(body)
            .map(|error| format!("{name}: {error} at `{}`", error.instance_path()))
            .collect()
    }

    /// Panics with every violation of component schema `name` by `body`.
    pub fn assert_matches(&self, name: &str, body: &Value) {
        let violations = self.violations(name, body);
        assert!(violations.is_empty(), "{violations:#?}\n{body:#}");
    }

    /// The CSV export's fixed columns: the header of the document's example for
    /// `GET /v1/balances/csv`, without its `meta_<key>` columns.
    pub fn csv_fixed_columns(&self) -> Vec<String> {
        let example = self.spec["paths"]["/v1/balances/csv"]["get"]["responses"]["200"]["content"]
            ["text/csv"]["example"]
            .as_str()
            .expect("the CSV export has an example");
        example
            .lines()
            .next()
            .unwrap()
            .split(',')
            .take_while(|column| !column.starts_with("meta_"))
            .map(str::to_string)
            .collect()
    }
}

/// OpenAPI 3.0's `nullable: true` as JSON Schema: the type also allows `null`.
fn allow_null(value: &mut Value) {
    match value {
        Value::Object(map) => {
            if map.get("nullable") == Some(&Value::Bool(true))
                && let Some(Value::String(kind)) = map.get("type").cloned()
            {
                map.insert("type".into(), json!([kind, "null"]));
            }
            map.values_mut().for_each(allow_null);
        }
        Value::Array(items) => items.iter_mut().for_each(allow_null),
        _ => {}
    }
}
