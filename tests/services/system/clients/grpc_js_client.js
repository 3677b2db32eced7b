// An independent client: Node's grpc-js with our protos loaded at run time by proto-loader (no
// generated code, nothing of OMP's Python). Usage: node grpc_js_client.js HOST:PORT PROTO_ROOT
// It prints one JSON line per step; tests/services/system/test_grpc_js_client.py reads them.
"use strict";
const path = require("path");
const grpc = require("@grpc/grpc-js");
const protoLoader = require("@grpc/proto-loader");

const [address, protoRoot] = process.argv.slice(2);
const definition = protoLoader.loadSync(path.join(protoRoot, "omp/v1/scheduler.proto"), {
  includeDirs: [protoRoot], keepCase: true, enums: String, longs: String, defaults: false, oneofs: true,
});
const omp = grpc.loadPackageDefinition(definition).omp.v1;
const scheduler = new omp.SchedulerService(address, grpc.credentials.createInsecure());

function call(method, request) {
  return new Promise((resolve) => {
    scheduler[method](request, { deadline: Date.now() + 10000 }, (err, response) => {
      resolve(err ? { error: { code: grpc.status[err.code], details: err.details } } : response);
    });
  });
}

// google.protobuf.Struct as grpc-js decodes it ({fields: {k: {kind: "numberValue", numberValue: 1}}}: the
// well-known types keep protobufjs's camelCase names), back to plain JSON
function plain(value) {
  if ("fields" in value) return Object.fromEntries(Object.entries(value.fields).map(([k, v]) => [k, plain(v)]));
  switch (value.kind) {
    case "structValue": return plain(value.structValue);
    case "listValue": return (value.listValue.values || []).map(plain);
    case "nullValue": return null;
    default: return value[value.kind];
  }
}

function emit(step, result) { process.stdout.write(JSON.stringify({ step, result }) + "\n"); }

(async () => {
  emit("status", await call("GetStatus", {}));
  emit("refused", await call("AddCampaign", { campaign: { name: "x", config_path: "tiny.toml", priority: -3 } }));
  emit("added", await call("AddCampaign", { campaign: { name: "js", config_path: "tiny.toml", priority: 7 },
                                             reason: "grpc-js" }));
  const exported = await call("ExportQueue", {});
  emit("exported", { queue: plain(exported.queue), total_size: exported.total_size });
  const imported = await call("ImportQueue", { request_id: "js-1", queue: { fields: {
    campaigns: { listValue: { values: [{ structValue: { fields: {
      name: { stringValue: "from js" }, config_path: { stringValue: "tiny.toml" }, priority: { numberValue: 3 },
    } } }] } } } } });
  emit("imported", imported);
  scheduler.close();
})();
