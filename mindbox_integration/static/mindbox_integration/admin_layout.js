'use strict';
// On a narrow screen (a tablet) the navigation sidebar starts closed, unless the manager opened
// or closed it before (Django remembers that in localStorage). Runs after Django's
// nav_sidebar.js, which has opened it by then; its toggle still works: the first click opens
// the sidebar again (which is what Django's toggle believes it is) and is remembered as Django does.
{
    const KEY = 'django.admin.navSidebarIsOpen';
    const main = document.getElementById('main');
    const toggle = document.getElementById('toggle-nav-sidebar');
    const sidebar = document.getElementById('nav-sidebar');
    const narrow = window.matchMedia('(max-width: 1024px)').matches;
    if (main && toggle && sidebar && narrow && localStorage.getItem(KEY) === null
        && main.classList.contains('shifted')) {
        main.classList.remove('shifted');
        sidebar.setAttribute('aria-expanded', 'false');
        const reopen = function(event) {
            if (!toggle.contains(event.target)) {
                return;
            }
            event.stopPropagation();  // Django's handler would close what it thinks is open
            document.removeEventListener('click', reopen, true);
            localStorage.setItem(KEY, 'true');
            main.classList.add('shifted');
            sidebar.setAttribute('aria-expanded', 'true');
        };
        document.addEventListener('click', reopen, true);
    }
}
