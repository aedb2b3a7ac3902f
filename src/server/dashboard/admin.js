// The "Admin" tab: rebuild a read model (with its progress), reconcile it (the mismatches listed) and
// repair it, verify the log, make a backup, resume a stopped partition. Every action here needs the
// admin scope when tokens are configured: a 401 opens the token form, a 403 says which scope is missing.

import { api, describeError } from './api.js';
import { $, cell, el, fillTable, jsonLine, say } from './dom.js';

const REBUILD_POLL_MS = 250;

export function initAdmin() {
  $('admin-rebuild').addEventListener('click', rebuild);
  $('admin-reconcile').addEventListener('click', () => reconcile(false));
  $('admin-repair').addEventListener('click', () => reconcile(true));
  $('admin-verify').addEventListener('click', verify);
  $('backup-form').addEventListener('submit', (e) => {
    e.preventDefault();
    void backup();
  });
  $('admin-partitions').addEventListener('click', (e) => {
    const button = e.target.closest('button[data-partition]');
    if (button) void resume(Number(button.dataset.partition), button);
  });
}

export function showAdmin(on) {
  if (!on) return;
  if (!$('backup-name').value) $('backup-name').value = `console-${new Date().toISOString().slice(0, 19).replace(/[-:]/g, '').replace('T', '-')}`;
  void loadStopped();
}

/**
 * Runs `work` with the button disabled, and shows a failure in the tab's message line (and clears
 * `pending`, the line that said the action was under way).
 */
async function action(button, work, pending = null) {
  button.disabled = true;
  say($('admin-message'), '');
  try {
    await work();
  } catch (err) {
    if (pending) say(pending, '');
    say($('admin-message'), describeError(err, 'admin'), 'error');
  } finally {
    button.disabled = false;
  }
}

// ---------------------------------------------------------------- read models

function view() {
  return encodeURIComponent($('admin-view').value);
}

function rebuild() {
  return action($('admin-rebuild'), async () => {
    const name = view();
    let status = await api(`/views/${name}/rebuild`, { method: 'POST' });
    showRebuild(status);
    while (status.state === 'building') {
      await new Promise((resolve) => setTimeout(resolve, REBUILD_POLL_MS));
      status = await api(`/views/${name}/rebuild`);
      showRebuild(status);
    }
  });
}

function showRebuild(status) {
  const bar = $('rebuild-progress');
  bar.value = status.progress;
  bar.dataset.state = status.state;
  const pct = `${Math.round(status.progress * 100)}%`;
  const text = {
    building: `building generation ${status.generation}: ${pct}`,
    swapped: `rebuilt: generation ${status.generation} is live (${pct})`,
    failed: `the rebuild failed: ${status.error ?? 'see the server log'}`,
    idle: 'no rebuild running',
  }[status.state] ?? status.state;
  say($('rebuild-status'), `${status.view}: ${text}`, status.state === 'failed' ? 'error' : status.state === 'swapped' ? 'ok' : '');
}

function reconcile(repair) {
  return action($(repair ? 'admin-repair' : 'admin-reconcile'), async () => {
    const report = await api(`/views/${view()}/reconcile?repair=${repair}`, { method: 'POST' });
    const summary = `checked ${report.checked.toLocaleString()} rows · drift ${report.drift}${repair ? ` · repaired ${report.repaired}` : ''}${report.damaged?.length ? ` · ${report.damaged.length} damaged partition(s) not checked` : ''}`;
    say($('reconcile-summary'), summary, report.drift > 0 && !repair ? 'error' : 'ok');
    fillTable(
      $('reconcile-mismatches'),
      report.mismatches.map((m) => [cell('id', m.id), cell('json', m.view === null ? '(missing)' : jsonLine(m.view)), cell('json', m.truth === null ? '(none)' : jsonLine(m.truth))]),
    );
    $('reconcile-table').classList.toggle('hidden', report.mismatches.length === 0);
    $('reconcile-damaged').textContent = (report.damaged ?? []).map((d) => `partition ${d.partition}: ${d.code} ${d.message}`).join('\n');
  });
}

// ---------------------------------------------------------------- the log

function verify() {
  return action($('admin-verify'), async () => {
    say($('verify-summary'), 'verifying every record…');
    const r = await api('/admin/verify', { method: 'POST' });
    const events = r.partitions.reduce((n, p) => n + p.events, 0);
    const damaged = r.partitions.filter((p) => p.status !== 'ok');
    say(
      $('verify-summary'),
      r.ok ? `ok: ${events.toLocaleString()} events in ${r.partitions.length} partitions verified in ${r.durationMs} ms` : `damaged: ${damaged.map((p) => `partition ${p.partition}`).join(', ') || 'outside the partitions'}`,
      r.ok ? 'ok' : 'error',
    );
    fillTable(
      $('verify-partitions'),
      r.partitions.map((p) => [el('td', 'num', `p${p.partition}`), el('td', p.status === 'ok' ? 'ok' : 'stopped', p.status), el('td', 'num', p.events.toLocaleString()), cell('', p.problems.map((x) => `${x.db} ${jsonLine(x.key)}: ${x.problem}`).join('; '))]),
    );
    $('verify-table').classList.remove('hidden');
  }, $('verify-summary'));
}

function backup() {
  return action($('admin-backup'), async () => {
    const name = $('backup-name').value.trim();
    say($('backup-summary'), `backing up into ${name}…`);
    const r = await api('/admin/backup', { method: 'POST', body: { name } });
    say($('backup-summary'), `backup ${r.name}: ${r.events.toLocaleString()} events, ${(r.bytes / 1024).toFixed(0)} KiB, verified, in ${r.durationMs} ms`, 'ok');
    $('backup-name').value = '';
  }, $('backup-summary'));
}

// ---------------------------------------------------------------- stopped partitions

async function loadStopped() {
  try {
    const body = await api('/partitions');
    const stopped = body.partitions.filter((p) => p.stopped);
    $('admin-partitions').replaceChildren(
      ...stopped.map((p) => {
        const li = el('li');
        const button = el('button', '', `Resume p${p.partition}`);
        button.type = 'button';
        button.dataset.partition = String(p.partition);
        li.append(button, el('span', 'reason', p.stopped));
        return li;
      }),
    );
    $('admin-partitions-none').classList.toggle('hidden', stopped.length > 0);
  } catch {
    // The read failed; the other tabs say why.
  }
}

function resume(partition, button) {
  return action(button, async () => {
    const r = await api(`/admin/partitions/${partition}/resume`, { method: 'POST' });
    say($('admin-message'), `partition ${r.partition} resumed at offset ${r.offset}`, 'ok');
    await loadStopped();
  });
}
