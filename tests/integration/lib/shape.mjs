// shape.mjs -- a tiny validator of JSON values against the JSON Schema subset of schema/contract/api.json.
//
// Supported: type (a name or a list; "integer" is a whole number), enum,
// pattern, properties, required, items, and $ref to "#/$defs/<name>".
// shapeErrors(value, schema, defs) returns the list of what does not match,
// each as "<path>: <what>"; [] when the value fits.

function typeOf(v) {
  if (v === null) return "null";
  if (Array.isArray(v)) return "array";
  if (typeof v === "number") return Number.isInteger(v) ? "integer" : "number";
  return typeof v;
}

function typeFits(v, t) {
  const have = typeOf(v);
  return have === t || (t === "number" && have === "integer");
}

export function shapeErrors(value, schema, defs, path = "$") {
  if (schema.$ref) {
    const name = schema.$ref.replace(/^#\/\$defs\//, "");
    if (!defs[name]) return [`${path}: unknown $ref ${schema.$ref}`];
    return shapeErrors(value, defs[name], defs, path);
  }
  const out = [];
  if (schema.type) {
    const types = Array.isArray(schema.type) ? schema.type : [schema.type];
    if (!types.some((t) => typeFits(value, t))) return [`${path}: ${typeOf(value)}, not ${types.join("|")}`];
  }
  if (schema.enum && !schema.enum.some((e) => e === value)) out.push(`${path}: ${JSON.stringify(value)} not in the enum`);
  if (schema.pattern && typeof value === "string" && !new RegExp(schema.pattern).test(value))
    out.push(`${path}: ${JSON.stringify(value)} does not match ${schema.pattern}`);
  if (typeOf(value) === "object") {
    for (const k of schema.required || []) if (!(k in value)) out.push(`${path}: no "${k}"`);
    for (const [k, sub] of Object.entries(schema.properties || {}))
      if (k in value) out.push(...shapeErrors(value[k], sub, defs, `${path}.${k}`));
  }
  if (Array.isArray(value) && schema.items)
    value.forEach((el, i) => out.push(...shapeErrors(el, schema.items, defs, `${path}[${i}]`)));
  return out;
}
