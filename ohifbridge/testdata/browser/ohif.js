// A stand-in for the OHIF v3 viewer's OpenID Connect side, run by
// ohifbridge's browser test in headless Chromium. It builds the
// oidc-client-ts UserManager with the settings OHIF v3 derives from its
// `oidc[0]` configuration when response_type is "code", and follows OHIF's
// routes in our own words:
//
//   /login        third-party-initiated login: iss must equal the
//                 configured authority as a string (otherwise OHIF logs an
//                 error and does nothing); the stored user is removed, the
//                 pathname (only) of target_link_uri is kept in
//                 sessionStorage["ohif-redirect-to"], then signinRedirect
//                 with login_hint.
//   /callback     signinRedirectCallback, then a navigation to the kept
//                 pathname (and search, which is empty after /login).
//   /logout       signoutRedirect with post_logout_redirect_uri taken from
//                 the redirect_uri query parameter, as OHIF's menu does.
//   /             OHIF's default post_logout_redirect_uri:
//                 signoutRedirectCallback.
//   /silent-refresh.html  signinSilentCallback (iframe renew).
//   /viewer...    what the viewer does with the user: DICOMweb reads with
//                 "Authorization: Bearer <access_token>", then the test's
//                 own steps (renew, STOW, sign-out).
//
// Everything the page sees is reported to the test server (POST /__report)
// so that the Go test asserts on values from the browser side; the report
// calls and window.__harnessDone are instrumentation, not OHIF behaviour.
(function () {
  'use strict';
  const cfg = window.OHIF_TEST_CONFIG;
  const oidcConfig = cfg.oidc[0];

  async function report(step, data) {
    const body = JSON.stringify(Object.assign({ step: step, href: location.href }, data || {}));
    await fetch('/__report', { method: 'POST', body: body, keepalive: true });
  }

  async function finish(ok, data) {
    await report('done', Object.assign({ ok: ok }, data || {}));
    if (typeof window.__harnessDone === 'function') {
      window.__harnessDone({ ok: ok });
    }
  }

  function fail(step) {
    return async function (err) {
      const e = err || {};
      await report(step, {
        error: String(e.error || e.name || 'Error'),
        error_description: e.error_description || '',
        message: String(e.message || e),
      });
      await finish(false, { failedAt: step });
    };
  }

  // OHIF makes the three URIs absolute against protocol//host + router
  // basename (empty here), with these defaults.
  function absolute(u, base) {
    if (u.includes('http://') || u.includes('https://')) {
      return u;
    }
    return base.replace(/\/$/, '') + u;
  }
  const base = location.protocol + '//' + location.host;
  const settings = Object.assign({}, oidcConfig, {
    redirect_uri: absolute(oidcConfig.redirect_uri || '/callback', base),
    silent_redirect_uri: absolute(oidcConfig.silent_redirect_uri || '/silent-refresh.html', base),
    post_logout_redirect_uri: absolute(oidcConfig.post_logout_redirect_uri || '/', base),
  });
  // OHIF v3's "next" client (oidc-client-ts) for response_type "code".
  Object.assign(settings, {
    response_type: 'code',
    revokeTokensOnSignout: oidcConfig.revokeAccessTokenOnSignout ?? true,
    filterProtocolClaims: true,
    loadUserInfo: true,
  });
  const userManager = new oidc.UserManager(settings);

  function userFacts(user) {
    return {
      sub: user.profile.sub,
      name: user.profile.name || '',
      email: user.profile.email || '',
      iss: user.profile.iss || '',
      aud: user.profile.aud || '',
      access_token: user.access_token,
      refresh_token: user.refresh_token || '',
      id_token: user.id_token || '',
      token_type: user.token_type,
      scope: user.scope || '',
      expires_in: user.expires_in,
      state: user.state === undefined ? null : user.state,
    };
  }

  async function login() {
    const q = new URLSearchParams(location.search);
    const iss = q.get('iss');
    const loginHint = q.get('login_hint');
    const target = q.get('target_link_uri');
    if (iss !== oidcConfig.authority) {
      console.error('iss of /login does not match the oidc authority');
      // OHIF renders nothing and stops here.
      await report('login', { outcome: 'ignored', iss: iss });
      await finish(false, { failedAt: 'login' });
      return;
    }
    await userManager.removeUser();
    const pathname = target !== null ? new URL(target).pathname : '/';
    sessionStorage.setItem('ohif-redirect-to', JSON.stringify({ pathname: pathname }));
    await report('login', {
      outcome: 'redirecting', iss: iss, target_link_uri: target, redirect_to: pathname,
      has_login_hint: loginHint !== null,
    });
    if (loginHint !== null) {
      await userManager.signinRedirect({ login_hint: loginHint });
    } else {
      await userManager.signinRedirect();
    }
  }

  async function callback() {
    let user;
    try {
      user = await userManager.signinRedirectCallback();
    } catch (err) {
      await fail('callback')(err);
      return;
    }
    await report('callback', userFacts(user));
    if (cfg.loginOnly) {
      await finish(true);
      return;
    }
    const to = JSON.parse(sessionStorage.getItem('ohif-redirect-to'));
    location.assign(to.pathname + (to.search || ''));
  }

  async function dicomweb(user, method, url, headers, body) {
    const h = Object.assign({ Authorization: 'Bearer ' + user.access_token }, headers || {});
    return fetch(url, { method: method, headers: h, body: body });
  }

  // The study the viewer was opened on: OHIF v2 routes carry it in the path
  // (/viewer/<uid>[;<uid>]), v3 in the query (StudyInstanceUIDs), which
  // /login drops.
  function studiesFromURL() {
    const fromQuery = new URLSearchParams(location.search).get('StudyInstanceUIDs');
    if (fromQuery) {
      return fromQuery.split(',');
    }
    const m = location.pathname.match(/^\/viewer\/(.+)$/);
    return m ? decodeURIComponent(m[1]).split(';') : [];
  }

  function tag(item, t) {
    const v = item[t] && item[t].Value;
    return v && v.length ? String(v[0]) : '';
  }

  // reads performs the viewer's reads: QIDO-RS studies, WADO-RS metadata
  // of the study in the URL (or else the first one QIDO-RS found, as a
  // user would pick it in the study list), then one instance, timing its
  // first bytes.
  async function reads(user, studies) {
    const root = cfg.dicomWebRoot;
    const out = {};
    const qido = await dicomweb(user, 'GET', root + '/studies', { Accept: 'application/dicom+json' });
    out.qido_status = qido.status;
    out.qido_studies = qido.ok ? (await qido.json()).map((s) => tag(s, '0020000D')) : [];
    const study = studies[0] || out.qido_studies[0];
    if (!study) {
      return out;
    }
    const meta = await dicomweb(user, 'GET', root + '/studies/' + study + '/metadata',
      { Accept: 'application/dicom+json' });
    out.metadata_status = meta.status;
    const items = meta.ok ? await meta.json() : [];
    out.metadata_instances = items.length;
    if (!items.length) {
      return out;
    }
    const series = tag(items[0], '0020000E');
    const sop = tag(items[0], '00080018');
    out.instance = sop;
    const inst = await dicomweb(user, 'GET',
      root + '/studies/' + study + '/series/' + series + '/instances/' + sop,
      { Accept: 'multipart/related; type="application/dicom"' });
    out.instance_status = inst.status;
    out.instance_content_type = inst.headers.get('Content-Type') || '';
    const reader = inst.body.getReader();
    let n = 0;
    let head = '';
    for (;;) {
      const r = await reader.read();
      if (r.done) {
        break;
      }
      if (n === 0) {
        out.first_bytes_at = performance.timeOrigin + performance.now();
      }
      if (head.length < 1024) {
        head += Array.from(r.value.subarray(0, 1024), (b) => String.fromCharCode(b)).join('');
      }
      n += r.value.length;
    }
    out.instance_bytes = n;
    out.instance_has_dicm = head.includes('DICM');
    return out;
  }

  // stow posts the test's instance as multipart/related, as OHIF's
  // DICOMweb client stores a derived object.
  async function stow(user) {
    const dcm = new Uint8Array(await (await fetch('/__stow.dcm')).arrayBuffer());
    const boundary = 'ohifbridge-browser-' + Math.random().toString(16).slice(2);
    const enc = new TextEncoder();
    const body = new Blob([
      enc.encode('--' + boundary + '\r\nContent-Type: application/dicom\r\n\r\n'),
      dcm,
      enc.encode('\r\n--' + boundary + '--\r\n'),
    ]);
    const resp = await dicomweb(user, 'POST', cfg.dicomWebRoot + '/studies', {
      'Content-Type': 'multipart/related; type="application/dicom"; boundary=' + boundary,
      Accept: 'application/dicom+json',
    }, body);
    const text = await resp.text();
    let stored = [];
    try {
      const seq = JSON.parse(text)['00081199'];
      stored = (seq && seq.Value ? seq.Value : []).map((it) => tag(it, '00081155'));
    } catch (e) {
      // not JSON: reported as is
    }
    return { stow_status: resp.status, stow_stored: stored, stow_body: text.slice(0, 2000) };
  }

  async function viewer() {
    let user = await userManager.getUser();
    if (!user) {
      await fail('viewer')(new Error('no user after the callback'));
      return;
    }
    const studies = studiesFromURL();
    const first = await reads(user, studies);
    await report('viewer', Object.assign({ studies_in_url: studies }, first));

    // Silent renew. With a refresh token, oidc-client-ts renews with the
    // refresh_token grant. autoRenew waits for automaticSilentRenew (on by
    // default in OHIF v3), which renews 60 s before expires_in runs out;
    // otherwise the test calls signinSilent, as that renewal does.
    const before = userFacts(user);
    try {
      if (cfg.autoRenew) {
        user = await new Promise((resolve, reject) => {
          userManager.events.addUserLoaded(resolve);
          userManager.events.addSilentRenewError(reject);
          setTimeout(() => reject(new Error('no automatic renewal within 20 s')), 20000);
        });
        // The next automatic renewal would race the sign-out below.
        userManager.stopSilentRenew();
      } else {
        user = await userManager.signinSilent();
      }
    } catch (err) {
      await fail('renew')(err);
      return;
    }
    const after = userFacts(user);
    const again = await dicomweb(user, 'GET', cfg.dicomWebRoot + '/studies', { Accept: 'application/dicom+json' });
    await report('renew', Object.assign(after, {
      previous_access_token: before.access_token,
      previous_refresh_token: before.refresh_token,
      automatic: !!cfg.autoRenew,
      qido_status: again.status,
    }));

    if (cfg.stow) {
      await report('stow', await stow(user));
    }

    // Sign out through OHIF's /logout route. OHIF's menu passes the
    // current page as redirect_uri (menuSignOut); otherwise the test passes
    // the configured post_logout_redirect_uri.
    await report('signout', userFacts(user));
    const back = cfg.menuSignOut ? location.href : settings.post_logout_redirect_uri;
    location.assign('/logout?redirect_uri=' + encodeURIComponent(back));
  }

  async function logout() {
    localStorage.setItem('signoutEvent', 'true');
    const q = new URLSearchParams(location.search);
    try {
      await userManager.signoutRedirect({ post_logout_redirect_uri: q.get('redirect_uri') });
    } catch (err) {
      await fail('logout')(err);
    }
  }

  async function signedOut() {
    try {
      await userManager.signoutRedirectCallback();
    } catch (err) {
      await fail('signed-out')(err);
      return;
    }
    const user = await userManager.getUser();
    await report('signed-out', { user_left: user !== null });
    await finish(true);
  }

  const routes = {
    '/login': login,
    '/callback': callback,
    '/logout': logout,
    '/': signedOut,
    '/silent-refresh.html': () => userManager.signinSilentCallback(),
  };
  const route = location.pathname.startsWith('/viewer') ? viewer : routes[location.pathname];
  if (route) {
    route().catch(fail('page'));
  }
})();
