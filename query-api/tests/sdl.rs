//! The GraphQL SDL is a committed artifact (`schemas/graphql/schema.snap`): clients generate
//! code from it. This test fails when the schema changes without the file being updated
//! (`cargo insta review`, or `INSTA_UPDATE=always cargo test -p query-api --test sdl`).

#[tokio::test]
async fn the_committed_sdl_matches_the_schema() {
    let store = eventlog::testing::sqlite().await;
    let schema = query_api::schema(store.database.clone(), store.database.event_log());
    let sdl = query_api::sdl(&schema);
    insta::with_settings!({ snapshot_path => "../../schemas/graphql", prepend_module_to_snapshot => false }, {
        insta::assert_snapshot!("schema", sdl);
    });
}
