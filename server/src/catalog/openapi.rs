//! OpenAPI paths for the generic catalog routes, built from the same `CatalogEntity` metadata the
//! router uses (utoipa's `#[utoipa::path]` attribute cannot describe one generic handler per entity).

use app::model::{Category, Customer, Product, Quote, TaxRate};
use utoipa::openapi::{
    path::{HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn, PathItemBuilder, Paths, PathsBuilder},
    request_body::RequestBodyBuilder,
    schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type},
    ContentBuilder, Ref, Required, ResponseBuilder, ResponsesBuilder,
};

use super::CatalogEntity;

fn json_response(description: &str, schema: &str) -> utoipa::openapi::Response {
    ResponseBuilder::new()
        .description(description)
        .content("application/json", ContentBuilder::new().schema(Some(Ref::from_schema_name(schema))).build())
        .build()
}

fn error(description: &str) -> utoipa::openapi::Response {
    json_response(description, "ErrorEnvelope")
}

/// A string parameter; `id` parameters are UUIDs.
fn param(name: &str, location: ParameterIn, required: bool, description: &str) -> utoipa::openapi::path::Parameter {
    let mut schema = ObjectBuilder::new().schema_type(Type::String);
    if name == "id" {
        schema = schema.format(Some(SchemaFormat::KnownFormat(KnownFormat::Uuid)));
    }
    ParameterBuilder::new()
        .name(name)
        .parameter_in(location)
        .required(if required { Required::True } else { Required::False })
        .description(Some(description))
        .schema(Some(schema))
        .build()
}

fn entity_paths<E: CatalogEntity>(schema: &str, builder: PathsBuilder) -> PathsBuilder {
    let tag = E::PATH;
    let body = || {
        RequestBodyBuilder::new()
            .content("application/json", ContentBuilder::new().schema(Some(Ref::from_schema_name(schema))).build())
            .description(Some(format!("Fields: {}", E::FIELDS.join(", "))))
            .build()
    };
    let collection = PathItemBuilder::new()
        .operation(
            HttpMethod::Get,
            OperationBuilder::new()
                .tag(tag)
                .summary(Some(format!("List {tag} (paginated, ?q= searches {})", E::SEARCH.join(", "))))
                .parameter(param("q", ParameterIn::Query, false, "search text"))
                .parameter(param("limit", ParameterIn::Query, false, "page size, at most 200 (50)"))
                .parameter(param("offset", ParameterIn::Query, false, "rows to skip (0)"))
                .responses(ResponsesBuilder::new().response("200", json_response("a page", "Page_Value")).build())
                .build(),
        )
        .operation(
            HttpMethod::Post,
            OperationBuilder::new()
                .tag(tag)
                .summary(Some(format!("Create a {} (the client may send its own UUID id)", tag.trim_end_matches('s'))))
                .request_body(Some(body()))
                .responses(
                    ResponsesBuilder::new()
                        .response("201", json_response("created", schema))
                        .response("409", error("duplicate id or unique field"))
                        .response("422", error("field messages in details.fields"))
                        .build(),
                )
                .build(),
        )
        .build();
    let item = PathItemBuilder::new()
        .operation(
            HttpMethod::Get,
            OperationBuilder::new()
                .tag(tag)
                .summary(Some("Get one, with its version as ETag".to_owned()))
                .parameter(param("id", ParameterIn::Path, true, "UUID"))
                .responses(
                    ResponsesBuilder::new()
                        .response("200", json_response("the row", schema))
                        .response("404", error("not found or deleted"))
                        .build(),
                )
                .build(),
        )
        .operation(
            HttpMethod::Patch,
            OperationBuilder::new()
                .tag(tag)
                .summary(Some("Change fields: {\"version\": n, …changed fields} or If-Match".to_owned()))
                .parameter(param("id", ParameterIn::Path, true, "UUID"))
                .parameter(param("If-Match", ParameterIn::Header, false, "the ETag the edit is based on"))
                .request_body(Some(body()))
                .responses(
                    ResponsesBuilder::new()
                        .response("200", json_response("the new version", schema))
                        .response("409", error("version_conflict with details.current"))
                        .response("412", error("If-Match does not match"))
                        .response("422", error("field messages"))
                        .response("428", error("neither version nor If-Match"))
                        .build(),
                )
                .build(),
        )
        .operation(
            HttpMethod::Delete,
            OperationBuilder::new()
                .tag(tag)
                .summary(Some("Soft-delete (tombstone) at ?version=n or If-Match".to_owned()))
                .parameter(param("id", ParameterIn::Path, true, "UUID"))
                .parameter(param("version", ParameterIn::Query, false, "the version the delete is based on"))
                .responses(
                    ResponsesBuilder::new()
                        .response("200", json_response("the tombstone", schema))
                        .response("409", error("version_conflict"))
                        .build(),
                )
                .build(),
        )
        .build();
    builder.path(format!("/api/{tag}"), collection).path(format!("/api/{tag}/{{id}}"), item)
}

pub fn paths() -> Paths {
    let builder = Paths::builder();
    let builder = entity_paths::<Category>("Category", builder);
    let builder = entity_paths::<Product>("Product", builder);
    let builder = entity_paths::<Quote>("Quote", builder);
    let builder = entity_paths::<TaxRate>("TaxRate", builder);
    entity_paths::<Customer>("Customer", builder).build()
}
