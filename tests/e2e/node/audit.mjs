// The GraphQL-over-HTTP audit of the `graphql-http` package against a live server.
// Usage: node audit.mjs URL [TOKEN]. Prints one JSON line per audit; exits 1 if a MUST fails.
import { auditServer } from 'graphql-http';

const [url, token] = process.argv.slice(2);
const fetchFn = (input, init = {}) => {
  const headers = new Headers(init.headers);
  if (token) headers.set('authorization', `Bearer ${token}`);
  return fetch(input, { ...init, headers });
};

const results = await auditServer({ url, fetchFn });
let failed = 0;
for (const result of results) {
  const line = { id: result.id, name: result.name, status: result.status };
  if (result.status !== 'ok') {
    line.reason = result.reason;
    if (result.response) {
      line.httpStatus = result.response.status;
      line.contentType = result.response.headers.get('content-type');
      line.body = (await result.response.text()).slice(0, 300);
    }
  }
  if (result.status === 'error') failed += 1;
  console.log(JSON.stringify(line));
}
process.exit(failed ? 1 : 0);
