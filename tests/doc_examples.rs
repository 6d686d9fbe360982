//! The examples of README.md and docs/*.md, checked by the real loader, template registry
//! and command-line parser, so that a renamed key breaks the build rather than the reader.
//!
//! What each fenced block of a page holds, by the word after its opening fence:
//! - ```` ```yaml ```` (or `yml`): one or more files. A comment line alone at the start of
//!   a line, `# reporter.yaml` or `# jobs/NAME.yaml`, starts a file; a block without one is
//!   a single job file, named after the page and the block's index. The block's files,
//!   with a minimal reporter.yaml when it has none, a copy of the shipped templates/ and
//!   the page's named templates, go into a folder of their own that `reporter check` must
//!   pass, loading every job the block holds. The folder stands for /etc/reporter: a path
//!   there in the block is read as one in the folder, and the SMTP `password_file` and the
//!   webhooks' `headers_file`s named there are made (secrets the reader writes, not
//!   examples).
//! - ```` ```handlebars ```` (or `hbs`): a template. A first line
//!   `{{!-- templates/NAME.txt.hbs --}}` names it: it is written there for every yaml block
//!   of the same page. Every template of a page, named or not, is checked by one
//!   `reporter check` of its own.
//! - ```` ```sh ```` (or `bash`, `shell`): every line whose command is `reporter` (after an
//!   optional `$ ` prompt, `sudo ` or `NAME=value` words) is parsed by reporter's own
//!   command line; what follows `|`, `>`, `<`, `&&`, `;` or a ` #` comment is left out.
//! - The word `fragment` after the language (`yaml fragment`) skips a block; `console`,
//!   `text`, `json` and any other language are shown as they are.
//!
//! A failure names the page, the block's line and what reporter said, with the lines of
//! reporter's messages turned into lines of the page.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use clap::Parser;

use crate::support;

/// A fenced code block of a page.
#[derive(Debug)]
struct Block {
    /// The line of its opening fence (1-based).
    line: usize,
    /// What follows the opening fence: `yaml`, `sh fragment`...
    info: String,
    /// Its lines, without the fences (the first one is on `line + 1`).
    lines: Vec<String>,
}

/// The fenced code blocks of a page (```` ``` ```` or `~~~`, indented or not), in order.
fn blocks(text: &str) -> Result<Vec<Block>, (usize, String)> {
    struct Open {
        block: Block,
        fence: char,
        length: usize,
        indent: usize,
    }
    let mut blocks = Vec::new();
    let mut open: Option<Open> = None;
    for (index, line) in text.lines().enumerate() {
        let indent = line.len() - line.trim_start_matches(' ').len();
        let rest = &line[indent..];
        match open.as_mut() {
            None => {
                let Some((fence, length)) = fence(rest) else {
                    continue;
                };
                let info = rest[length..].trim();
                // A backtick fence's info string cannot hold a backtick: ```a``` is inline code.
                if fence == '`' && info.contains('`') {
                    continue;
                }
                let block = Block {
                    line: index + 1,
                    info: info.to_owned(),
                    lines: Vec::new(),
                };
                open = Some(Open {
                    block,
                    fence,
                    length,
                    indent,
                });
            }
            Some(o) => {
                let closes = fence(rest).is_some_and(|(f, n)| {
                    f == o.fence && n >= o.length && rest[n..].trim().is_empty()
                });
                if closes {
                    blocks.push(open.take().expect("a block is open").block);
                } else {
                    let strip = o.indent.min(indent);
                    o.block.lines.push(line[strip..].to_owned());
                }
            }
        }
    }
    match open {
        Some(o) => Err((
            o.block.line,
            "the code block opened here is never closed".to_owned(),
        )),
        None => Ok(blocks),
    }
}

/// The fence character and the length of the fence `rest` starts with, if it does.
fn fence(rest: &str) -> Option<(char, usize)> {
    let first = rest.chars().next().filter(|c| matches!(c, '`' | '~'))?;
    let length = rest.len() - rest.trim_start_matches(first).len();
    (length >= 3).then_some((first, length))
}

/// How a block is checked, from its info string.
#[derive(Debug, PartialEq, Eq)]
enum Kind {
    Yaml,
    Handlebars,
    Shell,
    /// `yaml fragment` and the like: left out on purpose.
    Fragment,
    /// `text`, `console`, `json`...: shown as it is.
    Shown,
}

fn kind(info: &str) -> Kind {
    let mut words = info.split_whitespace();
    let language = words.next().unwrap_or_default();
    if words.any(|w| w == "fragment") {
        return Kind::Fragment;
    }
    match language {
        "yaml" | "yml" => Kind::Yaml,
        "handlebars" | "hbs" => Kind::Handlebars,
        "sh" | "bash" | "shell" => Kind::Shell,
        _ => Kind::Shown,
    }
}

/// A file an example holds, as the test writes it into a folder of its own.
#[derive(Debug, Clone)]
struct DocFile {
    /// Where, in the folder: `reporter.yaml`, `jobs/NAME.yaml`, `templates/NAME.txt.hbs`.
    path: String,
    /// The page's line its first line is on.
    first_line: usize,
    text: String,
}

/// The file a comment line alone names (`# reporter.yaml`, `# jobs/NAME.yaml`), or an error
/// for a comment that looks like one but has more on its line.
fn file_marker(line: &str) -> Result<Option<String>, String> {
    let Some(comment) = line.strip_prefix("# ") else {
        return Ok(None);
    };
    let comment = comment.trim_end();
    let names_a_file = |word: &str| {
        word == "reporter.yaml"
            || word.strip_prefix("jobs/").is_some_and(|name| {
                let stem = name.strip_suffix(".yaml").or(name.strip_suffix(".yml"));
                stem.is_some_and(|s| !s.is_empty() && !s.contains('/'))
            })
    };
    if names_a_file(comment) {
        return Ok(Some(comment.to_owned()));
    }
    let first = comment
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .trim_end_matches([':', ',']);
    if names_a_file(first) {
        return Err(format!(
            "`{comment}` names a file but has more on its line: write `# {first}` alone on its line"
        ));
    }
    Ok(None)
}

/// The files of a yaml block: split at its file comments, or one job file named
/// `jobs/STEM-INDEX.yaml` when it has none.
fn yaml_files(stem: &str, index: usize, block: &Block) -> Result<Vec<DocFile>, String> {
    let mut files: Vec<DocFile> = Vec::new();
    let mut before = Vec::new();
    for (offset, line) in block.lines.iter().enumerate() {
        let number = block.line + 1 + offset;
        match file_marker(line).map_err(|e| format!("line {number}: {e}"))? {
            Some(path) => {
                if files.iter().any(|f| f.path == path) {
                    return Err(format!("line {number}: a second `# {path}` in one block"));
                }
                files.push(DocFile {
                    path,
                    first_line: number + 1,
                    text: String::new(),
                });
            }
            None => match files.last_mut() {
                Some(file) => {
                    file.text.push_str(line);
                    file.text.push('\n');
                }
                None => before.push((number, line)),
            },
        }
    }
    if files.is_empty() {
        return Ok(vec![DocFile {
            path: format!("jobs/{stem}-{index}.yaml"),
            first_line: block.line + 1,
            text: block.lines.iter().map(|l| format!("{l}\n")).collect(),
        }]);
    }
    let stray = before.iter().find(|(_, l)| {
        let l = l.trim();
        !l.is_empty() && !l.starts_with('#')
    });
    if let Some((number, _)) = stray {
        return Err(format!(
            "line {number}: YAML before the block's first `# reporter.yaml` or `# jobs/NAME.yaml` line belongs to no file"
        ));
    }
    Ok(files)
}

/// The path a handlebars block names on its first line (`{{!-- templates/NAME.txt.hbs --}}`),
/// if it names one.
fn template_name(block: &Block) -> Result<Option<String>, String> {
    let Some(first) = block.lines.first() else {
        return Ok(None);
    };
    let Some(inner) = first
        .trim()
        .strip_prefix("{{!--")
        .and_then(|rest| rest.strip_suffix("--}}"))
        .map(str::trim)
    else {
        return Ok(None);
    };
    let Some(relative) = inner.strip_prefix("templates/") else {
        return Ok(None);
    };
    let fine = relative.ends_with(".hbs")
        && !relative.contains(char::is_whitespace)
        && relative
            .split('/')
            .all(|part| !part.is_empty() && part != "." && part != "..");
    if !fine {
        return Err(format!(
            "line {}: `{inner}` is no template path (expected e.g. `templates/NAME.txt.hbs`)",
            block.line + 1
        ));
    }
    Ok(Some(inner.to_owned()))
}

/// The words of a shell line up to the first `|`, `>`, `<`, `&`, `;` or comment, split
/// as a shell splits simple quoting; a redirection's descriptor (`2>`) is left out.
fn shell_words(line: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' => words.extend(word.take()),
            '#' if word.is_none() => break,
            '|' | '&' | ';' => break,
            '>' | '<' => {
                let descriptor = word
                    .as_deref()
                    .is_some_and(|w| !quoted && w.chars().all(|c| c.is_ascii_digit()));
                if descriptor {
                    word = None;
                }
                break;
            }
            '\'' => {
                let text = word.get_or_insert_with(String::new);
                quoted = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => text.push(c),
                        None => return Err("a `'` is never closed".to_owned()),
                    }
                }
            }
            '"' => {
                let text = word.get_or_insert_with(String::new);
                quoted = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') if chars.peek().is_some_and(|c| "\"\\$`".contains(*c)) => {
                            text.extend(chars.next());
                        }
                        Some(c) => text.push(c),
                        None => return Err("a `\"` is never closed".to_owned()),
                    }
                }
            }
            '\\' => word.get_or_insert_with(String::new).extend(chars.next()),
            c => {
                if word.is_none() {
                    quoted = false;
                }
                word.get_or_insert_with(String::new).push(c);
            }
        }
    }
    words.extend(word);
    Ok(words)
}

/// The `reporter` command lines of a shell block: each with its line and its words
/// (argv[0] first); lines of other programs are left out. A line ending in `\` goes on
/// on the next one.
fn reporter_commands(block: &Block) -> Vec<(usize, Result<Vec<String>, String>)> {
    let mut commands = Vec::new();
    let mut pending: Option<(usize, String)> = None;
    for (offset, line) in block.lines.iter().enumerate() {
        let (number, mut text) = pending
            .take()
            .unwrap_or((block.line + 1 + offset, String::new()));
        text.push_str(line);
        if let Some(rest) = text.strip_suffix('\\') {
            pending = Some((number, format!("{rest} ")));
            continue;
        }
        let text = text.trim_start();
        let text = text.strip_prefix("$ ").unwrap_or(text);
        let words = match shell_words(text) {
            Ok(words) => words,
            Err(e) => {
                if text.split_whitespace().next().is_some_and(is_reporter) {
                    commands.push((number, Err(e)));
                }
                continue;
            }
        };
        let command = words
            .iter()
            .position(|w| w != "sudo" && !is_assignment(w))
            .map(|start| words[start..].to_vec());
        if let Some(command) = command.filter(|c| is_reporter(&c[0])) {
            commands.push((number, Ok(command)));
        }
    }
    commands
}

/// `reporter`, or a path to it (`/usr/local/bin/reporter`).
fn is_reporter(word: &str) -> bool {
    word == "reporter" || word.ends_with("/reporter")
}

/// `NAME=value`, a variable set for the command that follows.
fn is_assignment(word: &str) -> bool {
    word.split_once('=').is_some_and(|(name, _)| {
        !name.is_empty()
            && !name.starts_with(|c: char| c.is_ascii_digit())
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    })
}

/// Whether reporter's command line takes `words`: None if it does, else clap's message.
fn parse_problem(words: &[String]) -> Option<String> {
    match reporter::cli::Cli::try_parse_from(words) {
        Ok(_) => None,
        // --help and --version are fine lines to show.
        Err(e) if !e.use_stderr() => None,
        Err(e) => Some(e.render().to_string()),
    }
}

/// One `reporter check` over a folder of files from a page.
#[derive(Debug)]
struct Check {
    page: String,
    /// The line of the block it checks (of the page's first template block for its
    /// templates).
    line: usize,
    /// What is checked, for messages: `yaml block`, `handlebars blocks`.
    what: &'static str,
    files: Vec<DocFile>,
    /// Those of `files` whose problems another check reports (the page's named templates,
    /// written for each of its yaml blocks): left out of this one's.
    reported_elsewhere: Vec<String>,
}

impl Check {
    fn jobs(&self) -> usize {
        self.files
            .iter()
            .filter(|f| f.path.starts_with("jobs/"))
            .count()
    }

    /// Writes the folder, runs `reporter check` on it and says what went wrong, if anything.
    fn run(&self) -> Option<String> {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let root = dir.path();
        let shipped: Vec<String> = copy_tree(&support::repo().join("templates"), root, "templates")
            .into_iter()
            .filter(|p| !self.files.iter().any(|f| f.path == *p))
            .collect();
        std::fs::create_dir_all(root.join("jobs")).expect("the jobs folder");
        if !self.files.iter().any(|f| f.path == "reporter.yaml") {
            let minimal = format!(
                "jobs_dir: {root}/jobs\ntemplates_dir: {root}/templates\nstate_dir: {root}/state\nmail:\n  from: reporter@example.com\n  to: [root@localhost]\n",
                root = root.display()
            );
            std::fs::write(root.join("reporter.yaml"), minimal).expect("the config");
        }
        let installed = format!("{}/", root.display());
        for file in &self.files {
            let path = root.join(&file.path);
            std::fs::create_dir_all(path.parent().expect("a folder")).expect("its folder");
            let text = if file.path.ends_with(".hbs") {
                file.text.clone()
            } else {
                file.text.replace(INSTALLED, &installed)
            };
            std::fs::write(&path, text).expect("the file");
        }
        make_secret_files(root);
        let output = Command::new(env!("CARGO_BIN_EXE_reporter"))
            .arg("--config")
            .arg(root.join("reporter.yaml"))
            .args(["--color", "never", "check"])
            .current_dir(root)
            .env_remove("REPORTER_CONFIG")
            .stdin(Stdio::null())
            .output()
            .expect("run reporter check");
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        let jobs = self.jobs();
        let summary = format!(": {jobs} job{} ok", if jobs == 1 { "" } else { "s" });
        if output.status.success() && stdout.trim_end().ends_with(&summary) {
            return None;
        }
        let said = self.locate(root, &format!("{stderr}{stdout}"));
        // The shipped templates' own problems are the shipped examples' tests' to report.
        let elsewhere = |line: &&str| {
            self.reported_elsewhere
                .iter()
                .any(|p| line.contains(&format!("({p}:")))
                || shipped.iter().any(|p| line.contains(&format!(" {p}:")))
        };
        let own: Vec<&str> = said.lines().filter(|l| !elsewhere(l)).collect();
        let counted =
            |line: &&str| line.ends_with(" problem found") || line.ends_with(" problems found");
        let only_elsewhere = output.status.code() == Some(2)
            && own.len() < said.lines().count()
            && own.iter().all(counted);
        if only_elsewhere {
            return None;
        }
        Some(format!(
            "{}:{}: {}: `reporter check` ({}, expected{summary}) said:\n{}",
            self.page,
            self.line,
            self.what,
            output.status,
            indent(&own.join("\n"))
        ))
    }

    /// `text` with the folder's files named by their lines in the page.
    fn locate(&self, root: &Path, text: &str) -> String {
        let mut text = text.to_owned();
        for file in &self.files {
            let written = format!("{}/{}", root.display(), file.path);
            text = replace_located(&text, &written, |line| match line {
                Some((line, rest)) => format!(
                    "{}:{} ({}:{line}{rest})",
                    self.page,
                    (file.first_line + line).saturating_sub(1),
                    file.path
                ),
                None => format!("{} ({}:{})", file.path, self.page, file.first_line),
            });
        }
        text.replace(&format!("{}/", root.display()), "")
    }
}

/// Where the pages install reporter's files: in a check's folder, the folder itself.
const INSTALLED: &str = "/etc/reporter/";

/// The SMTP password file the config in `root` names, and the webhooks' headers files of
/// its `defaults:` and jobs, those in `root`: secrets the reader makes, not examples.
fn make_secret_files(root: &Path) {
    let read = |path: PathBuf| {
        let text = std::fs::read_to_string(path).ok()?;
        serde_yaml::from_str::<serde_yaml::Value>(&text).ok()
    };
    let config = read(root.join("reporter.yaml"));
    if let Some(file) = config
        .as_ref()
        .and_then(|c| c["mail"]["smtp"]["password_file"].as_str())
    {
        make_secret(root, file, "placeholder\n");
    }
    let jobs = std::fs::read_dir(root.join("jobs"))
        .into_iter()
        .flatten()
        .filter_map(|entry| read(entry.ok()?.path()));
    let keys = config.iter().map(|c| &c["defaults"]).cloned().chain(jobs);
    for keys in keys {
        for hook in keys["webhooks"].as_sequence().into_iter().flatten() {
            if let Some(file) = hook["headers_file"].as_str() {
                make_secret(root, file, "X-Placeholder: 1\n");
            }
        }
    }
}

/// A private file at `file` (relative to `root`, or in it) holding `text`, unless it is
/// outside `root` or there already.
fn make_secret(root: &Path, file: &str, text: &str) {
    use std::os::unix::fs::OpenOptionsExt;
    let path = root.join(file);
    let inside = path.starts_with(root) && !file.split('/').any(|part| part == "..");
    if inside && !path.exists() {
        let made = std::fs::create_dir_all(path.parent().expect("a folder")).and_then(|()| {
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path)
                .and_then(|mut f| std::io::Write::write_all(&mut f, text.as_bytes()))
        });
        made.unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }
}

/// `text` with each `path`, `path:LINE` or `path:LINE:COLUMN` replaced by what `with`
/// makes of its line and the `:COLUMN` after it.
fn replace_located(
    text: &str,
    path: &str,
    with: impl Fn(Option<(usize, &str)>) -> String,
) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find(path) {
        out.push_str(&rest[..at]);
        rest = &rest[at + path.len()..];
        let digits = |s: &str| s.len() - s.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        let line = rest
            .strip_prefix(':')
            .filter(|s| digits(s) > 0)
            .map(|s| (&s[..digits(s)], &s[digits(s)..]));
        match line {
            Some((number, after)) => {
                let column = after
                    .strip_prefix(':')
                    .filter(|s| digits(s) > 0)
                    .map_or(0, |s| 1 + digits(s));
                let line = number.parse().expect("digits");
                out.push_str(&with(Some((line, &after[..column]))));
                rest = &after[column..];
            }
            None => out.push_str(&with(None)),
        }
    }
    out.push_str(rest);
    out
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("    {l}\n")).collect()
}

/// Copies the folder `from` to `relative` in `root`; the files' paths in `root`.
fn copy_tree(from: &Path, root: &Path, relative: &str) -> Vec<String> {
    std::fs::create_dir_all(root.join(relative)).expect("a folder");
    let mut copied = Vec::new();
    for entry in std::fs::read_dir(from).expect("the shipped templates") {
        let entry = entry.expect("a folder entry");
        let name = entry.file_name();
        let target = format!("{relative}/{}", name.to_string_lossy());
        if entry.file_type().expect("its type").is_dir() {
            copied.extend(copy_tree(&entry.path(), root, &target));
        } else {
            std::fs::copy(entry.path(), root.join(&target)).expect("a copy");
            copied.push(target);
        }
    }
    copied
}

/// How many examples were checked, and how many left out on purpose.
#[derive(Debug, Default, PartialEq, Eq)]
struct Tally {
    pages: usize,
    yaml_blocks: usize,
    yaml_files: usize,
    templates: usize,
    commands: usize,
    fragments: usize,
}

impl std::fmt::Display for Tally {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} pages: {} yaml blocks ({} files), {} templates, {} reporter command lines checked; {} fragments left out",
            self.pages,
            self.yaml_blocks,
            self.yaml_files,
            self.templates,
            self.commands,
            self.fragments
        )
    }
}

/// A problem of a page: the line it is on, and what it is (naming the page and line).
type Problem = (usize, String);

/// What a page's examples need: the `reporter check`s of its yaml blocks and templates,
/// after its command lines were parsed; problems found on the way go to `problems`.
fn plan_page(page: &str, text: &str, tally: &mut Tally, problems: &mut Vec<Problem>) -> Vec<Check> {
    let blocks = match blocks(text) {
        Ok(blocks) => blocks,
        Err((line, e)) => {
            problems.push((line, format!("{page}:{line}: {e}")));
            return Vec::new();
        }
    };
    tally.pages += 1;
    let stem = Path::new(page)
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("page")
        .to_lowercase();
    // Every template of the page, and those of them that name their path.
    let mut templates: Vec<DocFile> = Vec::new();
    let mut named: Vec<DocFile> = Vec::new();
    let mut yaml: Vec<(usize, Vec<DocFile>)> = Vec::new();
    for (index, block) in blocks.iter().enumerate().map(|(i, b)| (i + 1, b)) {
        match kind(&block.info) {
            Kind::Yaml => match yaml_files(&stem, index, block) {
                Ok(files) => yaml.push((block.line, files)),
                Err(e) => problems.push((
                    block.line,
                    format!("{page}:{}: yaml block: {e}", block.line),
                )),
            },
            Kind::Handlebars => match template_file(&stem, index, block, &named) {
                Ok((file, true)) => {
                    named.push(file.clone());
                    templates.push(file);
                }
                Ok((file, false)) => templates.push(file),
                Err(e) => problems.push((
                    block.line,
                    format!("{page}:{}: handlebars block: {e}", block.line),
                )),
            },
            Kind::Shell => {
                for (line, words) in reporter_commands(block) {
                    tally.commands += 1;
                    let problem = words.map_or_else(Some, |words| parse_problem(&words));
                    if let Some(problem) = problem {
                        problems.push((
                            line,
                            format!(
                                "{page}:{line}: sh block at line {}: reporter's command line refuses it:\n{}",
                                block.line,
                                indent(&problem)
                            ),
                        ));
                    }
                }
            }
            Kind::Fragment => tally.fragments += 1,
            Kind::Shown => {}
        }
    }
    tally.templates += templates.len();
    tally.yaml_blocks += yaml.len();
    tally.yaml_files += yaml.iter().map(|(_, files)| files.len()).sum::<usize>();
    checks_of(page, yaml, templates, &named)
}

/// The checks of a page: one for each yaml block (`(line, files)`), with the page's `named`
/// templates, and one for all its `templates`.
fn checks_of(
    page: &str,
    yaml: Vec<(usize, Vec<DocFile>)>,
    templates: Vec<DocFile>,
    named: &[DocFile],
) -> Vec<Check> {
    let mut checks: Vec<Check> = yaml
        .into_iter()
        .map(|(line, mut files)| {
            files.extend(named.iter().cloned());
            Check {
                page: page.to_owned(),
                line,
                what: "yaml block",
                files,
                reported_elsewhere: named.iter().map(|t| t.path.clone()).collect(),
            }
        })
        .collect();
    if let Some(first) = templates.first() {
        checks.push(Check {
            page: page.to_owned(),
            line: first.first_line - 1,
            what: "handlebars blocks",
            files: templates,
            reported_elsewhere: Vec::new(),
        });
    }
    checks
}

/// The file a handlebars block is, and whether the block names it: at the path it names,
/// else at `templates/STEM-INDEX.txt.hbs` (where only the page's own template check sees it).
fn template_file(
    stem: &str,
    index: usize,
    block: &Block,
    named: &[DocFile],
) -> Result<(DocFile, bool), String> {
    let (path, is_named) = match template_name(block)? {
        Some(path) if named.iter().any(|t| t.path == path) => {
            return Err(format!("a second template block names `{path}`"));
        }
        Some(path) => (path, true),
        None => (format!("templates/{stem}-{index}.txt.hbs"), false),
    };
    let file = DocFile {
        path,
        first_line: block.line + 1,
        text: block.lines.iter().map(|l| format!("{l}\n")).collect(),
    };
    Ok((file, is_named))
}

/// Checks the examples of `pages` (name, text): what was checked, and every problem, page
/// by page, in the order of their lines.
fn check_pages(pages: &[(String, String)]) -> (Tally, Vec<String>) {
    let mut tally = Tally::default();
    let mut found: Vec<Vec<Problem>> = Vec::new();
    let mut checks: Vec<(usize, Check)> = Vec::new();
    for (index, (page, text)) in pages.iter().enumerate() {
        let mut problems = Vec::new();
        let planned = plan_page(page, text, &mut tally, &mut problems);
        checks.extend(planned.into_iter().map(|check| (index, check)));
        found.push(problems);
    }
    // Each check is a process of its own: run them side by side.
    let results: Vec<Option<String>> = std::thread::scope(|scope| {
        let running: Vec<_> = checks
            .iter()
            .map(|(_, c)| scope.spawn(|| c.run()))
            .collect();
        running
            .into_iter()
            .map(|r| r.join().expect("a check's thread"))
            .collect()
    });
    for ((index, check), result) in checks.iter().zip(results) {
        found[*index].extend(result.map(|problem| (check.line, problem)));
    }
    let problems = found
        .into_iter()
        .flat_map(|mut problems| {
            problems.sort_by_key(|(line, _)| *line);
            problems.into_iter().map(|(_, problem)| problem)
        })
        .collect();
    (tally, problems)
}

/// README.md and docs/*.md, by name, README.md first.
fn pages() -> Vec<(String, String)> {
    let repo = support::repo();
    let mut names = vec![PathBuf::from("README.md")];
    if let Ok(entries) = std::fs::read_dir(repo.join("docs")) {
        let mut docs: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| Path::new("docs").join(e.file_name()))
            .filter(|p| p.extension().is_some_and(|e| e == "md"))
            .collect();
        docs.sort();
        names.extend(docs);
    }
    names
        .into_iter()
        .map(|name| {
            let text = support::read(repo.join(&name));
            (name.display().to_string(), text)
        })
        .collect()
}

/// Whether the examples hold: no problem, and examples of every kind were checked (so that
/// a page rewritten in a way the extraction misses cannot pass by checking nothing).
fn verdict(tally: &Tally, problems: &[String]) -> Result<(), String> {
    if !problems.is_empty() {
        return Err(format!(
            "{} documented example{} ({tally}):\n\n{}",
            problems.len(),
            if problems.len() == 1 {
                " does not hold"
            } else {
                "s do not hold"
            },
            problems.join("\n")
        ));
    }
    if tally.yaml_files == 0 || tally.templates == 0 || tally.commands == 0 {
        return Err(format!(
            "the pages should show reporter's yaml, handlebars and command lines, and some kind was not found ({tally})"
        ));
    }
    Ok(())
}

#[test]
fn every_documented_example_is_checked_by_reporter_itself() {
    let started = std::time::Instant::now();
    let (tally, problems) = check_pages(&pages());
    eprintln!("{tally}, in {:.1?}", started.elapsed());
    if let Err(e) = verdict(&tally, &problems) {
        panic!("{e}");
    }
}

/// A block of `lang` at line 1 holding `lines`, for the tests of the extraction.
fn block_of(info: &str, lines: &[&str]) -> Block {
    Block {
        line: 1,
        info: info.to_owned(),
        lines: lines.iter().map(|l| (*l).to_owned()).collect(),
    }
}

#[test]
fn blocks_are_found_with_their_line_and_info_string() {
    let page = "# Title\n\
                Inline ```code``` is no block.\n\
                ```yaml\n\
                a: 1\n\
                ```\n\
                1. A step:\n\
                \n\
                \x20  ~~~sh fragment\n\
                \x20  reporter check\n\
                \x20  ~~~\n\
                ````text\n\
                ```\n\
                ````\n";
    let found = blocks(page).unwrap();
    let seen: Vec<(usize, &str, Vec<String>)> = found
        .iter()
        .map(|b| (b.line, b.info.as_str(), b.lines.clone()))
        .collect();
    assert_eq!(
        seen,
        [
            (3, "yaml", vec!["a: 1".to_owned()]),
            (8, "sh fragment", vec!["reporter check".to_owned()]),
            (11, "text", vec!["```".to_owned()]),
        ]
    );
    assert_eq!(
        blocks("text\n```yaml\na: 1\n").unwrap_err(),
        (2, "the code block opened here is never closed".to_owned())
    );
}

#[test]
fn the_info_string_says_how_a_block_is_checked() {
    assert_eq!(kind("yaml"), Kind::Yaml);
    assert_eq!(kind("handlebars"), Kind::Handlebars);
    assert_eq!(kind("sh"), Kind::Shell);
    assert_eq!(kind("bash"), Kind::Shell);
    for skipped in ["yaml fragment", "handlebars fragment", "sh fragment"] {
        assert_eq!(kind(skipped), Kind::Fragment, "{skipped}");
    }
    for shown in ["", "text", "console", "json", "cron", "ini"] {
        assert_eq!(kind(shown), Kind::Shown, "{shown}");
    }
}

#[test]
fn a_yaml_block_is_split_into_files_at_comments_naming_them() {
    let block = block_of(
        "yaml",
        &[
            "# The config and a job:",
            "# reporter.yaml",
            "pool_size: 4",
            "# jobs/backup.yml",
            "commands: [true]   # jobs/other.yaml is only a comment here",
        ],
    );
    let files: Vec<(String, usize, String)> = yaml_files("guide", 3, &block)
        .unwrap()
        .into_iter()
        .map(|f| (f.path, f.first_line, f.text))
        .collect();
    assert_eq!(
        files,
        [
            ("reporter.yaml".to_owned(), 4, "pool_size: 4\n".to_owned()),
            (
                "jobs/backup.yml".to_owned(),
                6,
                "commands: [true]   # jobs/other.yaml is only a comment here\n".to_owned()
            ),
        ]
    );
    let alone = yaml_files("guide", 3, &block_of("yaml", &["commands: [df -h]"])).unwrap();
    assert_eq!(alone.len(), 1);
    assert_eq!(
        (alone[0].path.as_str(), alone[0].first_line),
        ("jobs/guide-3.yaml", 2)
    );
}

#[test]
fn a_yaml_block_whose_files_are_unclear_is_a_problem() {
    let problem = |lines: &[&str]| yaml_files("guide", 1, &block_of("yaml", lines)).unwrap_err();
    assert_eq!(
        problem(&["# reporter.yaml: the config", "pool_size: 4"]),
        "line 2: `reporter.yaml: the config` names a file but has more on its line: write `# reporter.yaml` alone on its line"
    );
    assert_eq!(
        problem(&["pool_size: 4", "# jobs/a.yaml", "commands: [true]"]),
        "line 2: YAML before the block's first `# reporter.yaml` or `# jobs/NAME.yaml` line belongs to no file"
    );
    assert_eq!(
        problem(&["# jobs/a.yaml", "commands: [true]", "# jobs/a.yaml"]),
        "line 4: a second `# jobs/a.yaml` in one block"
    );
}

#[test]
fn a_template_is_named_by_its_first_line() {
    let named = block_of(
        "handlebars",
        &["{{!-- templates/partials/disks.txt.hbs --}}", "{{x}}"],
    );
    assert_eq!(
        template_name(&named).unwrap().as_deref(),
        Some("templates/partials/disks.txt.hbs")
    );
    for unnamed in [&["{{x}}"][..], &["{{!-- a comment --}}"], &[]] {
        assert_eq!(
            template_name(&block_of("handlebars", unnamed)).unwrap(),
            None
        );
    }
    for wrong in [
        "{{!-- templates/report.txt --}}",
        "{{!-- templates/../x.txt.hbs --}}",
    ] {
        let message = template_name(&block_of("handlebars", &[wrong])).unwrap_err();
        assert!(message.starts_with("line 2: `templates/"), "{message}");
    }
}

#[test]
fn shell_lines_are_split_as_a_shell_would_up_to_what_follows_the_command() {
    let words = |line: &str| shell_words(line).unwrap();
    assert_eq!(
        words(r#"reporter run 'disk usage' "a \"b\"" c\ d"#),
        ["reporter", "run", "disk usage", "a \"b\"", "c d"]
    );
    for cut in [
        "reporter list | less",
        "reporter list > out",
        "reporter list 2>&1",
        "reporter list < /dev/null",
        "reporter list && echo done",
        "reporter list; echo done",
        "reporter list & ",
        "reporter list   # every job",
    ] {
        assert_eq!(words(cut), ["reporter", "list"], "{cut}");
    }
    assert_eq!(
        words("reporter run 'a|b>c#d'"),
        ["reporter", "run", "a|b>c#d"]
    );
    assert_eq!(words("reporter run a#b"), ["reporter", "run", "a#b"]);
    assert_eq!(
        shell_words("reporter run 'x").unwrap_err(),
        "a `'` is never closed"
    );
}

#[test]
fn only_the_lines_that_run_reporter_are_taken_from_a_shell_block() {
    let block = block_of(
        "sh",
        &[
            "# reporter check in a comment is no command",
            "$ reporter run disk-usage --json | jq .",
            "sudo reporter check",
            "REPORTER_CONFIG=/tmp/r.yaml reporter list",
            "df -h | reporter preview disk-usage",
            "cargo install --path .",
            "/usr/local/bin/reporter man reporter.yaml > reporter.yaml.5",
            "reporter history \\",
            "    --limit 5",
            "reporter run 'broken",
        ],
    );
    let found: Vec<(usize, Result<Vec<String>, String>)> = reporter_commands(&block);
    let words = |words: &[&str]| Ok(words.iter().map(|w| (*w).to_owned()).collect());
    assert_eq!(
        found,
        [
            (3, words(&["reporter", "run", "disk-usage", "--json"])),
            (4, words(&["reporter", "check"])),
            (5, words(&["reporter", "list"])),
            (
                8,
                words(&["/usr/local/bin/reporter", "man", "reporter.yaml"])
            ),
            (9, words(&["reporter", "history", "--limit", "5"])),
            (11, Err("a `'` is never closed".to_owned())),
        ]
    );
}

/// A page holding a config, a job and the template it uses in three blocks, a template
/// alone, a job alone, command lines, a fragment, and a config of /etc/reporter: every
/// kind, all of them right.
const GOOD_PAGE: &str = r#"# Reports

```yaml
# reporter.yaml
mail: {from: reporter@example.com, to: [root@localhost]}
host_groups:
  web: [web1, web2]
# jobs/web-disks.yaml
hosts: ["@web"]
mail: {template: web}
commands: [df -h]
```

```handlebars
{{!-- templates/web.txt.hbs --}}
{{#each hosts}}{{name}}: {{summary.ok}} of {{summary.total}} ok
{{/each}}
```

```handlebars
{{#each host.disks}}{{mount}} {{bytes used}}{{/each}}
```

```yaml
description: a job alone, with the minimal config
timeout: 30s
commands:
  - name: disk
    run: df -h
```

```sh
reporter check
sudo reporter run web-disks --json | jq .
```

```yaml fragment
timeout: 30s
```

The folder a check writes stands for /etc/reporter, with the password file made:

```yaml
# reporter.yaml
jobs_dir: /etc/reporter/jobs
mail:
  from: reporter@example.com
  to: [root@localhost]
  smtp: {host: localhost, username: reporter, password_file: /etc/reporter/smtp.pass}
# jobs/relayed.yaml
commands: [uptime]
```
"#;

#[test]
fn right_examples_of_every_kind_hold() {
    let (tally, problems) = check_pages(&[("docs/guide.md".to_owned(), GOOD_PAGE.to_owned())]);
    assert_eq!(problems, Vec::<String>::new());
    assert_eq!(
        tally,
        Tally {
            pages: 1,
            yaml_blocks: 3,
            yaml_files: 5,
            templates: 2,
            commands: 2,
            fragments: 1,
        }
    );
    assert_eq!(verdict(&tally, &problems), Ok(()));
}

#[test]
fn a_broken_example_is_named_by_its_page_and_line_with_reporters_message() {
    let broken = GOOD_PAGE
        .replace("mail: {template: web}", "mail: {templat: web}")
        .replace("{{summary.total}} ok", "{{summary.total} ok")
        .replace("timeout: 30s\ncommands:", "timeout: 30 seconds\ncommands:")
        .replace("--json | jq", "--jsn | jq");
    let (tally, problems) = check_pages(&[
        ("README.md".to_owned(), GOOD_PAGE.to_owned()),
        ("docs/guide.md".to_owned(), broken),
    ]);
    assert_eq!(tally.pages, 2);
    let all = problems.join("\n");
    // Each problem once, under the block it is in: the page's line, the file's own, and
    // what reporter said.
    let starts: Vec<&str> = problems
        .iter()
        .map(|p| p.lines().next().unwrap_or_default())
        .collect();
    assert_eq!(
        starts,
        [
            "docs/guide.md:3: yaml block: `reporter check` (exit status: 2, expected: 1 job ok) said:",
            "docs/guide.md:14: handlebars blocks: `reporter check` (exit status: 2, expected: 0 jobs ok) said:",
            "docs/guide.md:24: yaml block: `reporter check` (exit status: 2, expected: 1 job ok) said:",
            "docs/guide.md:34: sh block at line 32: reporter's command line refuses it:",
        ],
        "{all}"
    );
    for (problem, expected) in [
        (
            0,
            "docs/guide.md:10 (jobs/web-disks.yaml:2:8): mail.templat: unknown field `templat`",
        ),
        (
            1,
            "docs/guide.md:16 (templates/web.txt.hbs:2:59): invalid handlebars syntax",
        ),
        (
            2,
            "docs/guide.md:26 (jobs/guide-4.yaml:2:10): timeout: invalid duration \"30 seconds\"",
        ),
        (3, "unexpected argument '--jsn' found"),
    ] {
        assert!(
            problems[problem].contains(expected),
            "expected {expected:?} in:\n{all}"
        );
    }
    assert_eq!(all.matches("templates/web.txt.hbs:2").count(), 1, "{all}");
    assert!(!all.contains("README.md"), "{all}");
}

#[test]
fn a_job_file_that_reporter_would_not_load_is_a_problem() {
    // A hidden file is no job to reporter, so `check` passes without reading it.
    let page = GOOD_PAGE.replace("# jobs/relayed.yaml", "# jobs/.relayed.yaml");
    let (_, problems) = check_pages(&[("docs/guide.md".to_owned(), page)]);
    let all = problems.join("\n");
    assert_eq!(problems.len(), 1, "{all}");
    assert!(
        problems[0].starts_with(
            "docs/guide.md:43: yaml block: `reporter check` (exit status: 0, expected: 1 job ok) said:\n    reporter.yaml (docs/guide.md:45): 0 jobs ok"
        ),
        "{all}"
    );
}

#[test]
fn pages_without_examples_do_not_pass() {
    let (tally, problems) = check_pages(&[(
        "README.md".to_owned(),
        "# reporter\n\n```text\nnothing to check\n```\n".to_owned(),
    )]);
    assert_eq!(problems, Vec::<String>::new());
    let message = verdict(&tally, &problems).unwrap_err();
    assert!(
        message.contains(
            "1 pages: 0 yaml blocks (0 files), 0 templates, 0 reporter command lines checked"
        ),
        "{message}"
    );
}

#[test]
fn a_named_template_belongs_to_its_own_page() {
    let other = "```yaml\n# jobs/uses-web.yaml\nmail: {template: web}\ncommands: [df -h]\n```\n";
    let (tally, problems) = check_pages(&[
        ("docs/guide.md".to_owned(), GOOD_PAGE.to_owned()),
        ("docs/other.md".to_owned(), other.to_owned()),
    ]);
    assert_eq!(tally.pages, 2);
    let all = problems.join("\n");
    assert_eq!(problems.len(), 1, "{all}");
    assert!(
        problems[0].starts_with("docs/other.md:1: yaml block: `reporter check` (exit status: 2"),
        "{all}"
    );
    assert!(
        problems[0].contains("docs/other.md:3 (jobs/uses-web.yaml:"),
        "{all}"
    );
}
