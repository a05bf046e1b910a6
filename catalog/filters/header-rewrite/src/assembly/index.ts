// header-rewrite: removes, sets and adds request and response headers, from the plugin configuration.
//
// Built with the SDK @solo-io/proxy-runtime 0.1.8 and AssemblyScript 0.14 (see package-lock.json),
// by the catalog's `assemblyscript` recipe: asc with `--use abort=abort_proc_exit`, so that an
// abort logs its message and exits through WASI instead of importing `env.abort`, which Envoy
// does not provide.
export * from "@solo-io/proxy-runtime/proxy";
import {
  Context,
  FilterHeadersStatusValues,
  LogLevelValues,
  RootContext,
  WasmResultValues,
  log,
  registerRootContext,
} from "@solo-io/proxy-runtime";
import { BufferTypeValues, HeaderMapTypeValues, get_buffer_bytes } from "@solo-io/proxy-runtime/runtime";
import * as imports from "@solo-io/proxy-runtime/imports";
import { Edits, Parser, Rewrite } from "./config";

const NAME = "header-rewrite";

class HeaderRewriteRoot extends RootContext {
  rewrite: Rewrite = new Rewrite();

  createContext(context_id: u32): Context {
    return new HeaderRewrite(context_id, this);
  }

  // Replaces the SDK's onConfigure, which asks the host for the configuration even when it is
  // empty. Envoy then answers OK and writes nothing, and the SDK takes its previous host call's
  // result from a shared buffer and frees it again: with a root_id set, the VM traps ("memory
  // access out of bounds"). An empty configuration is refused here with a message instead.
  onConfigure(configuration_size: u32): bool {
    if (configuration_size == 0) {
      log(LogLevelValues.error, NAME + ": the configuration is empty; expected a JSON object, e.g. {} to change nothing");
      return false;
    }
    let bytes = get_buffer_bytes(BufferTypeValues.PluginConfiguration, 0, configuration_size);
    if (bytes.byteLength != <i32>configuration_size) {
      log(LogLevelValues.error, NAME + ": could not read the configuration");
      return false;
    }
    let parser = new Parser(String.UTF8.decode(bytes));
    let rewrite = new Rewrite();
    if (!parser.rewrite(rewrite)) {
      log(LogLevelValues.error, NAME + ": configuration refused: " + parser.error);
      return false;
    }
    this.rewrite = rewrite;
    return true;
  }
}

class HeaderRewrite extends Context {
  constructor(context_id: u32, root_context: HeaderRewriteRoot) {
    super(context_id, root_context);
  }

  onRequestHeaders(headers: u32, end_of_stream: bool): FilterHeadersStatusValues {
    apply(HeaderMapTypeValues.RequestHeaders, changetype<HeaderRewriteRoot>(this.root_context).rewrite.request);
    return FilterHeadersStatusValues.Continue;
  }

  onResponseHeaders(headers: u32, end_of_stream: bool): FilterHeadersStatusValues {
    apply(HeaderMapTypeValues.ResponseHeaders, changetype<HeaderRewriteRoot>(this.root_context).rewrite.response);
    return FilterHeadersStatusValues.Continue;
  }

  // The SDK's versions of these three build a debug message on every request, which Envoy then
  // drops at its default log level; a third of a request's cost.
  onLog(): void {}

  onDone(): bool {
    return true;
  }

  onDelete(): void {}
}

// Remove, then set, then add: a header both removed and added ends up with the added value only.
function apply(map: HeaderMapTypeValues, edits: Edits): void {
  for (let i = 0; i < edits.remove.length; i++) {
    let name = edits.remove[i];
    check(imports.proxy_remove_header_map_value(map, changetype<usize>(name), name.byteLength), "remove", name);
  }
  for (let i = 0; i < edits.setNames.length; i++) {
    let name = edits.setNames[i];
    let value = edits.setValues[i];
    check(
      imports.proxy_replace_header_map_value(
        map, changetype<usize>(name), name.byteLength, changetype<usize>(value), value.byteLength,
      ),
      "set",
      name,
    );
  }
  for (let i = 0; i < edits.addNames.length; i++) {
    let name = edits.addNames[i];
    let value = edits.addValues[i];
    check(
      imports.proxy_add_header_map_value(
        map, changetype<usize>(name), name.byteLength, changetype<usize>(value), value.byteLength,
      ),
      "add",
      name,
    );
  }
}

// Envoy always has the header map during the header callbacks, so a refused edit is a fault:
// say which, then trap, and Envoy's fail_open setting decides what happens to the request.
function check(result: u32, what: string, name: ArrayBuffer): void {
  if (result != WasmResultValues.Ok) {
    log(LogLevelValues.critical, NAME + ": could not " + what + " header " + String.UTF8.decode(name) + ": status " + result.toString());
    unreachable();
  }
}

// Envoy's root_id is left empty for this filter (the catalog's default), so the root context is
// registered under "".
registerRootContext((context_id: u32): RootContext => new HeaderRewriteRoot(context_id), "");
