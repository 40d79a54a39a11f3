// Posts the review report as the pull request's one comment, updated on each push: the comment
// is found again by the marker the report starts with (`npm run review -- --report <file>`).
// Called from actions/github-script in .github/workflows/review.yml with its `github` client.
const { readFileSync } = require('node:fs');

const MARKER = '<!-- precog-db review -->';
// GitHub refuses a comment longer than 65536 characters.
const LIMIT = 65536;

function commentBody(report) {
  const text = report.startsWith(MARKER) ? report : `${MARKER}\n${report}`;
  if (text.length <= LIMIT) return text;
  const note = '\n\n… the report is longer than a comment holds: the whole of it is in the Review step\'s log.\n';
  return text.slice(0, LIMIT - note.length) + note;
}

async function post({ github, context, file }) {
  const body = commentBody(readFileSync(file, 'utf8'));
  const { owner, repo } = context.repo;
  const issue_number = context.payload.pull_request.number;
  const comments = await github.paginate(github.rest.issues.listComments, { owner, repo, issue_number, per_page: 100 });
  const previous = comments.find((comment) => typeof comment.body === 'string' && comment.body.startsWith(MARKER));
  if (previous) {
    await github.rest.issues.updateComment({ owner, repo, comment_id: previous.id, body });
    return { updated: previous.id };
  }
  const { data } = await github.rest.issues.createComment({ owner, repo, issue_number, body });
  return { created: data.id };
}

module.exports = post;
module.exports.commentBody = commentBody;
module.exports.MARKER = MARKER;
