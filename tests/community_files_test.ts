/**
 * The community and release files are tested like the docs:
 *
 * - `.github/workflows/ci.yml` parses and runs `.ci/run` once per Deno version of its matrix —
 *   two versions, the one `.ci/run` pins and one of the previous minor, each an exact version as
 *   `npx -y deno@<version>` takes it — on pushes and pull requests to `main` and on `v*` tags; its
 *   `publish` job runs only for tags, after `ci`, with `id-token: write` (JSR provenance) and no
 *   secret anywhere;
 * - `.ci/run` honours `DENO_VERSION` from the environment and falls back to its pinned version;
 * - the issue forms parse and have what GitHub requires of a form (name, description, a body of
 *   known element types with unique ids and labels), the bug report asks for the versions, the
 *   configuration, `deno task parti status` and metrics, and the template chooser sends security
 *   reports to `SECURITY.md`;
 * - `SECURITY.md`, `CODE_OF_CONDUCT.md` and `CONTRIBUTING.md` exist, are linked from `README.md`
 *   or `docs/README.md`, and their relative links (and the pull request template's) resolve;
 *   `CONTRIBUTING.md` has its versioning policy and release steps.
 */
import assert from "node:assert/strict";
import { parse } from "npm:yaml@2";

import { exists, path, read, ROOT } from "./helpers/repo_files.ts";

type Json = Record<string, unknown>;
const yaml = (relative: string) => parse(read(relative)) as Json;

interface Step {
  readonly uses?: string;
  readonly run?: string;
  readonly env?: Record<string, string>;
  readonly with?: Record<string, unknown>;
}
interface Job {
  readonly "runs-on"?: string;
  readonly needs?: string | string[];
  readonly if?: string;
  readonly permissions?: Record<string, string>;
  readonly strategy?: { readonly matrix?: Record<string, unknown> };
  readonly steps?: readonly Step[];
}

function workflow(): { on: Json; jobs: Record<string, Job> } {
  const doc = yaml(".github/workflows/ci.yml");
  assert.ok(doc.on && typeof doc.on === "object", "the workflow has triggers");
  assert.ok(doc.jobs && typeof doc.jobs === "object", "the workflow has jobs");
  return { on: doc.on as Json, jobs: doc.jobs as Record<string, Job> };
}

/** The version `.ci/run` provisions when `DENO_VERSION` is not set. */
function pinnedDenoVersion(): string {
  const match = /^DENO_VERSION="\$\{DENO_VERSION:-([^}"]+)\}"$/m.exec(read(".ci/run"));
  assert.ok(match, `.ci/run sets DENO_VERSION="\${DENO_VERSION:-<version>}"`);
  return match[1]!;
}

/** An exact version, as `npx -y deno@<version>` in `.ci/run` resolves it. */
const EXACT_VERSION = /^(\d+)\.(\d+)\.(\d+)$/;

Deno.test("the workflow runs on pushes and pull requests to main and on version tags", () => {
  const { on } = workflow();
  const push = on.push as Json;
  assert.deepEqual(push.branches, ["main"]);
  assert.ok((push.tags as string[]).includes("v*"), "push: tags v*");
  assert.deepEqual((on.pull_request as Json).branches, ["main"]);
});

Deno.test("the ci job runs .ci/run on ubuntu-latest for two Deno versions: the pinned one and the previous minor", () => {
  const { jobs } = workflow();
  const ci = jobs.ci;
  assert.ok(ci, "a job named ci");
  assert.equal(ci["runs-on"], "ubuntu-latest");
  const steps = ci.steps ?? [];
  assert.ok(steps.some((s) => s.uses?.startsWith("actions/checkout@")), "actions/checkout");
  assert.ok(steps.some((s) => s.uses?.startsWith("actions/setup-node@")), "actions/setup-node");
  const run = steps.find((s) => s.run?.trim() === "bash .ci/run");
  assert.ok(run, "a step that runs `bash .ci/run`");
  const expression = /^\$\{\{\s*matrix\.([\w-]+)\s*\}\}$/.exec(run.env?.DENO_VERSION ?? "");
  assert.ok(expression, "DENO_VERSION comes from the matrix");
  const versions = ci.strategy?.matrix?.[expression[1]!];
  assert.ok(Array.isArray(versions), `matrix.${expression[1]} is a list`);
  assert.equal(versions.length, 2, "two Deno versions");
  const parsed = versions.map((v) => {
    const m = EXACT_VERSION.exec(String(v));
    assert.ok(m, `'${v}' is an exact version (.ci/run runs npx -y deno@<version>)`);
    return { text: String(v), major: Number(m[1]), minor: Number(m[2]) };
  });
  const pinned = pinnedDenoVersion();
  const current = parsed.find((v) => v.text === pinned);
  assert.ok(current, `the matrix includes the version .ci/run pins (${pinned})`);
  const previous = parsed.find((v) => v !== current)!;
  assert.equal(previous.major, current.major, "the same major");
  assert.equal(previous.minor, current.minor - 1, "the previous minor");
});

Deno.test("the publish job runs only on tags, after ci, with an OIDC token and no secret", () => {
  const { jobs } = workflow();
  const publish = jobs.publish;
  assert.ok(publish, "a job named publish");
  const needs = typeof publish.needs === "string" ? [publish.needs] : publish.needs ?? [];
  assert.ok(needs.includes("ci"), "publish needs ci");
  assert.match(publish.if ?? "", /startsWith\(github\.ref,\s*'refs\/tags\/v'\)/);
  assert.deepEqual(publish.permissions, { contents: "read", "id-token": "write" });
  const pinned = pinnedDenoVersion();
  assert.ok(
    (publish.steps ?? []).some((s) => s.run?.trim() === `npx -y deno@${pinned} publish`),
    `a step that runs npx -y deno@${pinned} publish`,
  );
  for (const file of walk(".github")) {
    assert.doesNotMatch(read(file), /secrets\./, `${file} references no secret`);
  }
});

Deno.test(".ci/run provisions the Deno version DENO_VERSION names, and its pin without it", async () => {
  const script = read(".ci/run");
  const pinned = pinnedDenoVersion();
  assert.ok(script.includes('npx -y "deno@${DENO_VERSION}"'), "it provisions deno@$DENO_VERSION");
  assert.doesNotMatch(
    script.replace(/^DENO_VERSION=.*$/m, ""),
    /deno@\d/,
    "no other line pins a Deno version",
  );
  // Evaluate the assignment line itself, as bash does.
  const line = /^DENO_VERSION=.*$/m.exec(script)![0];
  const resolve = async (env: Record<string, string>) => {
    const out = await new Deno.Command("bash", {
      args: ["-c", `${line}; printf %s "$DENO_VERSION"`],
      env,
      clearEnv: true,
      stdout: "piped",
    }).output();
    assert.ok(out.success);
    return new TextDecoder().decode(out.stdout);
  };
  assert.equal(await resolve({}), pinned);
  assert.equal(await resolve({ DENO_VERSION: "2.8.3" }), "2.8.3");
});

// -------------------------------------------------------------------------------------------------
// Issue forms

const ELEMENT_TYPES = new Set(["markdown", "input", "textarea", "dropdown", "checkboxes"]);

interface FormElement {
  readonly type: string;
  readonly id?: string;
  readonly attributes: {
    readonly label?: string;
    readonly value?: string;
    readonly options?: readonly unknown[];
  };
  readonly validations?: { readonly required?: boolean };
}

function issueForm(file: string): FormElement[] {
  const form = yaml(file);
  assert.equal(typeof form.name, "string", `${file}: name`);
  assert.equal(typeof form.description, "string", `${file}: description`);
  assert.ok(Array.isArray(form.body) && form.body.length > 0, `${file}: a body`);
  const body = form.body as FormElement[];
  const ids = new Set<string>();
  const labels = new Set<string>();
  for (const element of body) {
    assert.ok(ELEMENT_TYPES.has(element.type), `${file}: element type '${element.type}'`);
    assert.ok(element.attributes, `${file}: ${element.type} has attributes`);
    if (element.type === "markdown") {
      assert.equal(typeof element.attributes.value, "string", `${file}: markdown has a value`);
      continue;
    }
    assert.ok(element.id && !ids.has(element.id), `${file}: unique id '${element.id}'`);
    ids.add(element.id);
    const label = element.attributes.label;
    assert.ok(label && !labels.has(label), `${file}: unique label '${label}'`);
    labels.add(label);
    if (element.type === "dropdown" || element.type === "checkboxes") {
      const options = element.attributes.options;
      assert.ok(Array.isArray(options) && options.length > 0, `${file}: ${element.id} options`);
    }
  }
  return body;
}

Deno.test("the bug report form asks for versions, configuration, parti status and metrics", () => {
  const body = issueForm(".github/ISSUE_TEMPLATE/bug_report.yml");
  const byId = new Map(body.filter((e) => e.id).map((e) => [e.id!, e]));
  for (const id of ["parti-version", "runtime", "nats-server", "config"]) {
    assert.equal(byId.get(id)?.validations?.required, true, `'${id}' is required`);
  }
  assert.match(byId.get("status")?.attributes.label ?? "", /deno task parti status/);
  assert.ok(byId.has("metrics"), "a metrics field");
  assert.ok(
    body.some((e) => e.type === "markdown" && e.attributes.value!.includes("SECURITY.md")),
    "security reports are sent to SECURITY.md",
  );
});

Deno.test("the feature request form parses", () => {
  const body = issueForm(".github/ISSUE_TEMPLATE/feature_request.yml");
  assert.ok(body.some((e) => e.id === "problem" && e.validations?.required));
});

Deno.test("the template chooser has no blank issues and sends security reports to SECURITY.md", () => {
  const config = yaml(".github/ISSUE_TEMPLATE/config.yml");
  assert.equal(config.blank_issues_enabled, false);
  const links = config.contact_links as { name: string; url: string; about: string }[];
  const security = links.find((l) => /security/i.test(l.name));
  assert.ok(security, "a security contact link");
  assert.match(security.url, /^https:\/\//, "contact links need an absolute URL");
  assert.match(security.about, /SECURITY\.md/);
});

// -------------------------------------------------------------------------------------------------
// The Markdown files

/** Every file below `dir`, relative to the repository root. */
function walk(dir: string): string[] {
  const out: string[] = [];
  for (const entry of Deno.readDirSync(path(`${dir}/`))) {
    const relative = `${dir}/${entry.name}`;
    if (entry.isDirectory) out.push(...walk(relative));
    else out.push(relative);
  }
  return out.sort();
}

/** GitHub's heading anchors (as in tests/docs_test.ts). */
function slug(heading: string): string {
  return heading.trim().toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, "").replace(/\s/g, "-");
}

/** A Markdown file without its fenced code blocks (fences are whole lines; inline ``` is text). */
function prose(file: string): string {
  let fenced = false;
  return read(file).split("\n").filter((line) => {
    if (/^\s*```/.test(line)) {
      fenced = !fenced;
      return false;
    }
    return !fenced;
  }).join("\n");
}

function anchors(file: string): Set<string> {
  return new Set([...prose(file).matchAll(/^#{1,6}\s+(.+)$/gm)].map((m) => slug(m[1]!)));
}

/** The relative link targets of a Markdown file, resolved against the repository root. */
function relativeLinks(file: string): { target: string; resolved: string; anchor?: string }[] {
  return [...prose(file).matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1]!)
    .filter((target) => !/^[a-z]+:/i.test(target))
    .map((target) => {
      const [relative, anchor] = target.split("#") as [string, string | undefined];
      const resolved = relative === ""
        ? file
        : new URL(relative, new URL(file, ROOT)).pathname.slice(ROOT.pathname.length);
      return anchor === undefined ? { target, resolved } : { target, resolved, anchor };
    });
}

const COMMUNITY_FILES = ["SECURITY.md", "CODE_OF_CONDUCT.md", "CONTRIBUTING.md"];

Deno.test("SECURITY.md, CODE_OF_CONDUCT.md and CONTRIBUTING.md exist and are linked from README.md or docs/README.md", () => {
  const linked = new Set(
    ["README.md", "docs/README.md"].flatMap((f) => relativeLinks(f).map((l) => l.resolved)),
  );
  for (const file of COMMUNITY_FILES) {
    assert.ok(exists(file), `${file} exists`);
    assert.ok(linked.has(file), `${file} is linked from README.md or docs/README.md`);
  }
});

Deno.test("every relative link of the community files points at a file and heading that exist", () => {
  const broken: string[] = [];
  for (const file of ["SECURITY.md", "CODE_OF_CONDUCT.md", ".github/PULL_REQUEST_TEMPLATE.md"]) {
    for (const { target, resolved, anchor } of relativeLinks(file)) {
      if (!exists(resolved)) broken.push(`${file}: ${target} (no ${resolved})`);
      else if (anchor && resolved.endsWith(".md") && !anchors(resolved).has(anchor)) {
        broken.push(`${file}: ${target} (no heading '#${anchor}' in ${resolved})`);
      }
    }
  }
  assert.deepEqual(broken, []);
});

Deno.test("CONTRIBUTING.md has the versioning policy and the release steps, and SECURITY.md its parts", () => {
  const contributing = anchors("CONTRIBUTING.md");
  for (const heading of ["versioning-and-deprecation-policy", "releasing", "adding-a-strategy"]) {
    assert.ok(contributing.has(heading), `CONTRIBUTING.md #${heading}`);
  }
  assert.ok(contributing.has("adding-a-store"), "CONTRIBUTING.md #adding-a-store");
  const security = anchors("SECURITY.md");
  for (const heading of ["reporting-a-vulnerability", "supported-versions", "scope"]) {
    assert.ok(security.has(heading), `SECURITY.md #${heading}`);
  }
  assert.match(
    read("SECURITY.md"),
    /\]\(docs\/security\.md\)/,
    "SECURITY.md links docs/security.md",
  );
  const template = read(".github/PULL_REQUEST_TEMPLATE.md");
  for (const item of ["deno task ok", "CHANGELOG.md", "docs/"]) {
    assert.ok(template.includes(item), `the pull request checklist mentions ${item}`);
  }
});
