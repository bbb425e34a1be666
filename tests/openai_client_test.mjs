// The official OpenAI client library for Node against `sculpt serve`: completions, streaming,
// chat, chat streaming, and an error. Run by tests/openai_client_test.sh.
import OpenAI from "openai";
import assert from "node:assert/strict";

const client = new OpenAI({ baseURL: process.env.SCULPT_URL + "/v1", apiKey: "test-key", maxRetries: 0 });

const models = await client.models.list();
assert.equal(models.data[0].id, "sculpt-code-diffusion");

const req = { model: "sculpt-code-diffusion", prompt: "def main():\n", max_tokens: 16, seed: 1 };
const done = await client.completions.create(req);
assert.equal(done.object, "text_completion");
assert.ok(done.choices[0].text.length > 0);
assert.equal(done.usage.completion_tokens + done.usage.prompt_tokens, done.usage.total_tokens);

let streamed = "";
let chunks = 0;
for await (const chunk of await client.completions.create({ ...req, stream: true })) {
  streamed += chunk.choices[0].text;
  chunks += 1;
}
assert.equal(streamed, done.choices[0].text);
assert.ok(chunks >= 3, `only ${chunks} chunks`);

const messages = [{ role: "user", content: "def square(x):" }];
const chat = await client.chat.completions.create({ model: "sculpt-code-diffusion", messages, max_tokens: 12 });
assert.equal(chat.choices[0].message.role, "assistant");
let chatStreamed = "";
for await (const chunk of await client.chat.completions.create({ model: "sculpt-code-diffusion", messages, max_tokens: 12, stream: true })) {
  chatStreamed += chunk.choices[0].delta.content ?? "";
}
assert.equal(chatStreamed, chat.choices[0].message.content);

await assert.rejects(client.completions.create({ ...req, max_tokens: -1 }), (e) => e.status === 400);
await assert.rejects(client.completions.create({ ...req, model: "gpt-4" }), (e) => e.status === 404);
console.log("openai client: completions, streaming, chat, chat streaming and errors ok");
