// The plugin configuration: a JSON object, parsed once in proxy_on_configure.
//
//   {"request":  {"remove": ["x-a"], "set": {"x-b": "1"}, "add": {"x-c": "2"}},
//    "response": {...}}
//
// The SDK has no JSON parser, and only this one shape is accepted, so the parser below reads
// exactly that shape and refuses everything else with a message naming what it expected. It
// never traps: a bad configuration must be refused (proxy_on_configure returns false), not crash
// the VM. AssemblyScript 0.14 has no exceptions, so each step returns false and leaves the reason
// in `error`.
//
// Strings are never passed through a ternary (`c ? s1 : s2`): with the reference counting of
// AssemblyScript 0.14/0.15 such a string can be released while still in use.

// Header names and values, already in the form the host calls take (UTF-8, names in lower case),
// so that a request costs no string conversion.
export class Edits {
  remove: Array<ArrayBuffer> = [];
  setNames: Array<ArrayBuffer> = [];
  setValues: Array<ArrayBuffer> = [];
  addNames: Array<ArrayBuffer> = [];
  addValues: Array<ArrayBuffer> = [];
}

export class Rewrite {
  request: Edits = new Edits();
  response: Edits = new Edits();
}

const QUOTE: i32 = 0x22;
const BACKSLASH: i32 = 0x5c;
const COMMA: i32 = 0x2c;
const COLON: i32 = 0x3a;
const OPEN_OBJECT: i32 = 0x7b;
const CLOSE_OBJECT: i32 = 0x7d;
const OPEN_ARRAY: i32 = 0x5b;
const CLOSE_ARRAY: i32 = 0x5d;

// RFC 9110 token characters besides letters and digits.
const TOKEN_SYMBOLS = "!#$%&'*+-.^_`|~";

function isTokenChar(c: i32): bool {
  if ((c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a)) {
    return true;
  }
  return TOKEN_SYMBOLS.indexOf(String.fromCharCode(c)) >= 0;
}

// A field value may hold visible characters, spaces, tabs and non-ASCII text; no control characters.
function isValueChar(c: i32): bool {
  return c == 0x09 || (c >= 0x20 && c != 0x7f);
}

function hexDigit(c: i32): i32 {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x41 + 10;
  if (c >= 0x61 && c <= 0x66) return c - 0x61 + 10;
  return -1;
}

export class Parser {
  text: string;
  pos: i32 = 0;
  error: string = "";
  // The last string read by readString.
  value: string = "";
  // Where the last key read by `member` starts, so that a bad key is reported at its place.
  keyStart: i32 = 0;

  constructor(text: string) {
    this.text = text;
  }

  fail(message: string): bool {
    if (this.error.length == 0) {
      this.error = message + " (at character " + (this.pos + 1).toString() + ")";
    }
    return false;
  }

  skipSpace(): void {
    while (this.pos < this.text.length) {
      let c = this.text.charCodeAt(this.pos);
      if (c != 0x20 && c != 0x09 && c != 0x0a && c != 0x0d) return;
      this.pos++;
    }
  }

  // The next character after white space, or -1 at the end.
  peek(): i32 {
    this.skipSpace();
    if (this.pos >= this.text.length) return -1;
    return this.text.charCodeAt(this.pos);
  }

  consume(c: i32, expected: string): bool {
    if (this.peek() != c) return this.fail("expected " + expected);
    this.pos++;
    return true;
  }

  readString(what: string): bool {
    if (this.peek() != QUOTE) return this.fail("expected " + what + " (a string)");
    this.pos++;
    let out = "";
    let start = this.pos;
    while (true) {
      if (this.pos >= this.text.length) return this.fail("unterminated string");
      let c = this.text.charCodeAt(this.pos);
      if (c == QUOTE) break;
      if (c < 0x20) return this.fail("control character in a string");
      if (c != BACKSLASH) {
        this.pos++;
        continue;
      }
      out += this.text.substring(start, this.pos);
      this.pos++;
      if (this.pos >= this.text.length) return this.fail("unterminated string");
      let e = this.text.charCodeAt(this.pos);
      this.pos++;
      if (e == QUOTE || e == BACKSLASH || e == 0x2f) {
        out += String.fromCharCode(e);
      } else if (e == 0x62) {
        out += "\b";
      } else if (e == 0x66) {
        out += "\f";
      } else if (e == 0x6e) {
        out += "\n";
      } else if (e == 0x72) {
        out += "\r";
      } else if (e == 0x74) {
        out += "\t";
      } else if (e == 0x75) {
        if (this.pos + 4 > this.text.length) return this.fail("incomplete \\u escape");
        let unit = 0;
        for (let i = 0; i < 4; i++) {
          let digit = hexDigit(this.text.charCodeAt(this.pos + i));
          if (digit < 0) return this.fail("bad \\u escape");
          unit = unit * 16 + digit;
        }
        this.pos += 4;
        out += String.fromCharCode(unit);
      } else {
        this.pos--;
        return this.fail("bad escape in a string");
      }
      start = this.pos;
    }
    out += this.text.substring(start, this.pos);
    this.pos++;
    this.value = out;
    return true;
  }

  // Reads '{' and then, one call to `member` per member, each key; `member` returns false at the
  // closing '}' (and on an error, which `error` then holds).
  beginObject(what: string): bool {
    if (this.peek() != OPEN_OBJECT) return this.fail("expected " + what + " (an object)");
    this.pos++;
    return true;
  }

  member(first: bool, keys: Array<string>): bool {
    let c = this.peek();
    if (c == CLOSE_OBJECT) {
      this.pos++;
      return false;
    }
    if (!first && !this.consume(COMMA, "',' or '}'")) return false;
    this.skipSpace();
    this.keyStart = this.pos;
    if (!this.readString("a key")) return false;
    if (keys.includes(this.value)) {
      this.pos = this.keyStart;
      return this.fail("duplicate key \"" + this.value + "\"");
    }
    keys.push(this.value);
    return this.consume(COLON, "':'");
  }

  // Checks `name` (read from `start`) and leaves it in lower case in `value`.
  headerName(what: string, name: string, start: i32): bool {
    let valid = name.length > 0;
    for (let i = 0; valid && i < name.length; i++) {
      valid = isTokenChar(name.charCodeAt(i));
    }
    if (!valid) {
      this.pos = start;
      return this.fail(what + ": \"" + name + "\" is not a header name (letters, digits and !#$%&'*+-.^_`|~)");
    }
    this.value = name.toLowerCase();
    return true;
  }

  headerValue(what: string, name: string): bool {
    this.skipSpace();
    let start = this.pos;
    if (!this.readString(what + ": the value of " + name)) return false;
    let value = this.value;
    for (let i = 0; i < value.length; i++) {
      if (!isValueChar(value.charCodeAt(i))) {
        this.pos = start;
        return this.fail(what + ": the value of " + name + " has a control character");
      }
    }
    return true;
  }

  // {"name": "value", ...}
  headerObject(what: string, names: Array<ArrayBuffer>, values: Array<ArrayBuffer>): bool {
    if (!this.beginObject(what)) return false;
    let keys = new Array<string>();
    let first = true;
    while (this.member(first, keys)) {
      first = false;
      if (!this.headerName(what, keys[keys.length - 1], this.keyStart)) return false;
      let name = this.value;
      if (!this.headerValue(what, name)) return false;
      names.push(String.UTF8.encode(name));
      values.push(String.UTF8.encode(this.value));
    }
    return this.error.length == 0;
  }

  // ["name", ...]
  headerList(what: string, names: Array<ArrayBuffer>): bool {
    if (this.peek() != OPEN_ARRAY) return this.fail("expected " + what + " (an array)");
    this.pos++;
    if (this.peek() == CLOSE_ARRAY) {
      this.pos++;
      return true;
    }
    while (true) {
      this.skipSpace();
      let start = this.pos;
      if (!this.readString("a header name")) return false;
      if (!this.headerName(what, this.value, start)) return false;
      names.push(String.UTF8.encode(this.value));
      if (this.peek() == CLOSE_ARRAY) {
        this.pos++;
        return true;
      }
      if (!this.consume(COMMA, "',' or ']'")) return false;
    }
  }

  // {"remove": [...], "set": {...}, "add": {...}}
  edits(what: string, edits: Edits): bool {
    if (!this.beginObject(what)) return false;
    let keys = new Array<string>();
    let first = true;
    while (this.member(first, keys)) {
      first = false;
      let key = keys[keys.length - 1];
      let ok = false;
      if (key == "remove") {
        ok = this.headerList(what + ".remove", edits.remove);
      } else if (key == "set") {
        ok = this.headerObject(what + ".set", edits.setNames, edits.setValues);
      } else if (key == "add") {
        ok = this.headerObject(what + ".add", edits.addNames, edits.addValues);
      } else {
        this.pos = this.keyStart;
        ok = this.fail(what + ": unknown key \"" + key + "\" (expected add, set or remove)");
      }
      if (!ok) return false;
    }
    return this.error.length == 0;
  }

  rewrite(rewrite: Rewrite): bool {
    if (!this.beginObject("the configuration")) return false;
    let keys = new Array<string>();
    let first = true;
    while (this.member(first, keys)) {
      first = false;
      let key = keys[keys.length - 1];
      let ok = false;
      if (key == "request") {
        ok = this.edits("request", rewrite.request);
      } else if (key == "response") {
        ok = this.edits("response", rewrite.response);
      } else {
        this.pos = this.keyStart;
        ok = this.fail("unknown key \"" + key + "\" (expected request or response)");
      }
      if (!ok) return false;
    }
    if (this.error.length > 0) return false;
    if (this.peek() != -1) return this.fail("unexpected text after the configuration");
    return true;
  }
}
