// The chart pages, loaded on demand (app.tsx): Apache ECharts is most of
// their weight, so the other pages never download it.
export { UtilizationPage } from './UtilizationPage';
export { QualityPage } from './QualityPage';
