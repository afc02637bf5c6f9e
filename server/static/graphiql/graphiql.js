// commpulse's GraphiQL page: every file comes from this server (server/static/vendor), nothing
// from a CDN. A token typed in the bar stays in sessionStorage (this tab only); it goes in the
// Authorization header of HTTP requests and in the connection_init payload of the websocket
// (graphql-transport-ws, through the vendored graphql-ws client).
"use strict";

(function () {
  const KEY = "commpulse.token";
  const token = sessionStorage.getItem(KEY) || "";
  const auth = token ? { Authorization: "Bearer " + token } : {};

  const form = document.getElementById("token-form");
  const input = document.getElementById("token");
  document.getElementById("token-state").textContent = token ? "token set" : "no token";
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    sessionStorage.setItem(KEY, input.value.trim());
    location.reload(); // a new fetcher and websocket with the new token; tabs are kept
  });
  document.getElementById("token-clear").addEventListener("click", function () {
    sessionStorage.removeItem(KEY);
    location.reload();
  });

  const url = new URL("/graphql", location.href);
  const wsUrl = new URL(url);
  wsUrl.protocol = url.protocol === "https:" ? "wss:" : "ws:";

  const wsClient = graphqlWs.createClient({
    url: wsUrl.href,
    connectionParams: auth,
    lazy: true,
    retryAttempts: 3,
  });
  const fetcher = GraphiQL.createFetcher({ url: url.href, headers: auth, wsClient: wsClient });
  const explorer = GraphiQLPluginExplorer.explorerPlugin();

  const DEFAULT_QUERY = `# commpulse. Run with Ctrl-Enter. Examples are in the README.
query Overview {
  statusCounts { kind status count }
  communications(first: 10) {
    totalCount
    edges { node { ... on CommunicationBase { id name kind availableActions } } }
  }
}
`;

  ReactDOM.createRoot(document.getElementById("graphiql")).render(
    React.createElement(GraphiQL, {
      fetcher: fetcher,
      plugins: [explorer],
      defaultQuery: DEFAULT_QUERY,
      defaultEditorToolsVisibility: true,
      isHeadersEditorEnabled: true,
      shouldPersistHeaders: false,
    }),
  );
})();
